-- Aftercare per municipality of today and incident year (reports by housing corporations, newest version of
-- each), plus national rows (gemeente_code 'NL'): coverage (the share of reports where aftercare was offered),
-- displaced households, those still displaced as of the newest delivery, and the days displaced over the reports
-- with a return date. The Kaplan-Meier median, which also counts the households still waiting, is statistics:
-- it comes from the analysis run (marts.nazorg_duur).
with

records as (

    select * from {{ ref('int_koppelingen__claims_meldingen') }}
    where bron = 'corporaties'

),

terugkeer as (

    select * from {{ ref('stg_corporaties__terugkeer') }}

),

aanslagen as (

    select incident_id from {{ ref('int_buurt__aanslagen') }}

),

meldingen as (

    select
        r.gemeente_code_actueel as gemeente_code,
        cast(extract(year from m.incident_datum) as integer) as jaar,
        m.nazorg_aangeboden,
        coalesce(m.huishoudens_ontheemd, 0) as huishoudens_ontheemd,
        t.terugkeer_datum,
        t.terugkeer_datum - m.incident_datum as dagen_ontheemd,
        m.incident_datum,
        a.incident_id as aanslag_id
    from records as r
    inner join {{ ref('stg_corporaties__meldingen') }} as m
        on
            r.partner_code = m.corporatie_code
            and r.record_id = m.melding_id
    left join terugkeer as t
        on
            m.corporatie_code = t.corporatie_code
            and m.melding_id = t.melding_id
    left join aanslagen as a
        on r.incident_id = a.incident_id

),

niveaus as (

    select * from meldingen
    union all
    select
        'NL' as gemeente_code,
        jaar,
        nazorg_aangeboden,
        huishoudens_ontheemd,
        terugkeer_datum,
        dagen_ontheemd,
        incident_datum,
        aanslag_id
    from meldingen

),

per_gemeente as (

    select
        gemeente_code,
        jaar,
        count(*) as woningmeldingen,
        count(*) filter (where nazorg_aangeboden) as woningmeldingen_met_nazorg,
        sum(huishoudens_ontheemd) as huishoudens_ontheemd,
        coalesce(sum(huishoudens_ontheemd) filter (
            where huishoudens_ontheemd > 0 and terugkeer_datum is null
        ), 0) as huishoudens_nog_ontheemd,
        count(*) filter (where huishoudens_ontheemd > 0) as meldingen_ontheemd,
        count(*) filter (where huishoudens_ontheemd > 0 and terugkeer_datum is not null)
            as meldingen_met_terugkeer,
        percentile_cont(0.5) within group (order by dagen_ontheemd)
        filter (where huishoudens_ontheemd > 0 and terugkeer_datum is not null) as mediaan_dagen_ontheemd,
        percentile_cont(0.9) within group (order by dagen_ontheemd)
        filter (where huishoudens_ontheemd > 0 and terugkeer_datum is not null) as p90_dagen_ontheemd,
        count(distinct aanslag_id) filter (where huishoudens_ontheemd > 0) as aanslagen_met_ontheemden,
        count(distinct aanslag_id) filter (
            where huishoudens_ontheemd > 0 and terugkeer_datum is null
        ) as aanslagen_nog_wachtend,
        min(incident_datum) as eerste_incident_datum,
        max(incident_datum) as laatste_incident_datum
    from niveaus
    group by gemeente_code, jaar

),

gemeenten as (

    select
        gemeente_code,
        gemeente_naam
    from {{ ref('dim_gemeenten') }}
    union all
    select
        'NL' as gemeente_code,
        'Nederland' as gemeente_naam

),

final as (

    select
        p.gemeente_code,
        g.gemeente_naam,
        p.jaar,
        cast(p.woningmeldingen as integer) as woningmeldingen,
        cast(p.woningmeldingen_met_nazorg as integer) as woningmeldingen_met_nazorg,
        cast(round(100.0 * p.woningmeldingen_met_nazorg / nullif(p.woningmeldingen, 0), 1) as numeric(5, 1))
            as nazorg_dekking_pct,
        cast(p.huishoudens_ontheemd as integer) as huishoudens_ontheemd,
        cast(p.huishoudens_nog_ontheemd as integer) as huishoudens_nog_ontheemd,
        cast(p.meldingen_ontheemd as integer) as meldingen_ontheemd,
        cast(p.meldingen_met_terugkeer as integer) as meldingen_met_terugkeer,
        cast(p.mediaan_dagen_ontheemd as numeric(8, 1)) as mediaan_dagen_ontheemd,
        cast(p.p90_dagen_ontheemd as numeric(8, 1)) as p90_dagen_ontheemd,
        cast(p.aanslagen_met_ontheemden as integer) as aanslagen_met_ontheemden,
        cast(p.aanslagen_nog_wachtend as integer) as aanslagen_nog_wachtend,
        p.eerste_incident_datum,
        p.laatste_incident_datum
    from per_gemeente as p
    inner join gemeenten as g
        on p.gemeente_code = g.gemeente_code

)

select * from final
