-- Every measure in force or ended, one row per measure and area, with the counted attacks in its area in the
-- 12 months before its start and the 12 months from its start on. Postcode-level rows: analist level, not for
-- bi_reader (see _maatregelen.yml, meta.toegang).
{% set venster = var('maatregel_venster_maanden') %}

with

gebieden as (

    select * from {{ ref('int_maatregelen__gebieden') }}

),

incidenten as (

    select
        gemeente_code,
        postcode4,
        incident_datum
    from {{ ref('fct_explosie_incidenten') }}

),

stand as (

    select max(peildatum) as peildatum from {{ ref('fct_explosie_incidenten') }}

),

geteld as (

    select
        g.gemeente_code,
        g.gemeente_code_geleverd,
        g.maatregel_id,
        g.postcode4,
        count(*) filter (
            where i.incident_datum >= g.start_datum - interval '{{ venster }} months'
            and i.incident_datum < g.start_datum
        ) as aanslagen_12m_voor,
        count(*) filter (
            where i.incident_datum >= g.start_datum
            and i.incident_datum < g.start_datum + interval '{{ venster }} months'
        ) as aanslagen_12m_na
    from gebieden as g
    left join incidenten as i
        on
            g.gemeente_code = i.gemeente_code
            and (g.postcode4 is null or g.postcode4 = i.postcode4)
            and i.incident_datum >= g.start_datum - interval '{{ venster }} months'
            and i.incident_datum < g.start_datum + interval '{{ venster }} months'
    group by 1, 2, 3, 4

),

final as (

    select
        g.gemeente_code,
        g.gemeente_code_geleverd,
        g.maatregel_id,
        g.soort,
        g.fase,
        g.postcode4,
        g.politie_eenheid,
        g.start_datum,
        g.eind_datum,
        cast(g.kosten_eur as numeric(14, 2)) as kosten_eur,
        cast(t.aanslagen_12m_voor as integer) as aanslagen_12m_voor,
        cast(t.aanslagen_12m_na as integer) as aanslagen_12m_na,
        coalesce(g.start_datum + interval '{{ venster }} months' <= s.peildatum, false) as nameting_compleet,
        g.peildatum
    from gebieden as g
    inner join geteld as t
        on
            g.gemeente_code_geleverd = t.gemeente_code_geleverd
            and g.maatregel_id = t.maatregel_id
            and t.postcode4 is not distinct from g.postcode4
    cross join stand as s

)

select * from final
