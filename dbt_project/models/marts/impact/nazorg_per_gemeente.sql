-- Aftercare coverage per municipality of today: the share of housing incidents (reports by housing
-- corporations, all years) where aftercare was offered to residents and neighbours. Every municipality
-- has a row; the share is null where there was no report.
with

records as (

    select * from {{ ref('int_koppelingen__claims_meldingen') }}
    where bron = 'corporaties'

),

meldingen as (

    select
        r.gemeente_code_actueel as gemeente_code,
        count(*) as woningmeldingen,
        count(*) filter (where m.nazorg_aangeboden) as woningmeldingen_met_nazorg,
        min(m.incident_datum) as eerste_incident_datum,
        max(m.incident_datum) as laatste_incident_datum
    from records as r
    inner join {{ ref('stg_corporaties__meldingen') }} as m
        on m.corporatie_code = r.partner_code
        and m.melding_id = r.record_id
    group by r.gemeente_code_actueel

),

gemeenten as (

    select gemeente_code, gemeente_naam from {{ ref('dim_gemeenten') }}

),

final as (

    select
        g.gemeente_code,
        g.gemeente_naam,
        cast(coalesce(m.woningmeldingen, 0) as integer) as woningmeldingen,
        cast(coalesce(m.woningmeldingen_met_nazorg, 0) as integer) as woningmeldingen_met_nazorg,
        cast(round(100.0 * m.woningmeldingen_met_nazorg / nullif(m.woningmeldingen, 0), 1) as numeric(5, 1))
            as nazorg_dekking_pct,
        m.eerste_incident_datum,
        m.laatste_incident_datum
    from gemeenten as g
    left join meldingen as m
        on m.gemeente_code = g.gemeente_code

)

select * from final
