-- One row per measure and area, with its active period, on today's municipal boundaries: the unit the evaluation
-- of measures works with. An area is a postcode4 of the municipality, or the whole municipality (postcode4 null).
-- A measure is in force from start_datum up to and including eind_datum (open while eind_datum is null).
with

maatregelen as (

    select * from {{ ref('stg_gemeenten__maatregelen') }}

),

gemeenten as (

    select * from {{ ref('int_gemeenten__code_mapping') }}

),

dim as (

    select
        gemeente_code,
        politie_eenheid
    from {{ ref('stg_referentie__gemeenten') }}

),

final as (

    select
        ---------- ids
        coalesce(g.gemeente_code_actueel, m.gemeente_code) as gemeente_code,
        m.gemeente_code as gemeente_code_geleverd,
        m.maatregel_id,

        ---------- strings
        m.soort,
        m.fase,
        m.postcode4,
        d.politie_eenheid,
        m.omschrijving,

        ---------- numerics
        m.kosten_eur,

        ---------- booleans
        m.postcode4 is null as is_hele_gemeente,

        ---------- dates
        m.start_datum,
        m.eind_datum,
        m.peildatum

    from maatregelen as m
    left join gemeenten as g
        on
            m.gemeente_code = g.gemeente_code
            and (g.geldig_tot is null or m.start_datum < g.geldig_tot)
    left join dim as d
        on d.gemeente_code = coalesce(g.gemeente_code_actueel, m.gemeente_code)

)

select * from final
