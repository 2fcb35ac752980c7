-- One row per housing-corporation report with displaced households (newest version): how long they were
-- displaced, or how long so far (censored at the newest delivery's peildatum). The input of the Kaplan-Meier
-- estimate in the analysis run (analysis/nazorg_duur.py). Row-level security (explosion_monitor.access): only
-- the municipality's own login and analist see rows. No report or incident identifier is published here.
with

records as (

    select * from {{ ref('int_koppelingen__claims_meldingen') }}
    where bron = 'corporaties'

),

meldingen as (

    select * from {{ ref('stg_corporaties__meldingen') }}

),

terugkeer as (

    select * from {{ ref('stg_corporaties__terugkeer') }}

),

nieuwste_levering as (

    select max(peildatum) as peildatum from meldingen

),

final as (

    select
        r.gemeente_code_actueel as gemeente_code,
        cast(extract(year from m.incident_datum) as integer) as jaar,
        m.incident_datum,
        cast(m.huishoudens_ontheemd as integer) as huishoudens_ontheemd,
        t.terugkeer_datum,
        t.terugkeer_datum is not null as is_teruggekeerd,
        cast(coalesce(t.terugkeer_datum, n.peildatum) - m.incident_datum as integer) as dagen_ontheemd,
        n.peildatum as censuur_peildatum,
        r.incident_id is not null as is_gekoppeld
    from records as r
    inner join meldingen as m
        on
            r.partner_code = m.corporatie_code
            and r.record_id = m.melding_id
    left join terugkeer as t
        on
            m.corporatie_code = t.corporatie_code
            and m.melding_id = t.melding_id
    cross join nieuwste_levering as n
    where m.huishoudens_ontheemd > 0

)

select * from final
