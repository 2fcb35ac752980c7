-- How well insurer claims and housing reports link to counted police incidents, per source: how many are
-- linked explicitly (politie_incident_id), inferred (municipality, postcode4, date within one day), or not
-- linked to a counted incident, and why. One row per (bron, koppeling, reden) that occurs.
with

records as (

    select * from {{ ref('int_koppelingen__claims_meldingen') }}

),

tellingen as (

    select
        bron,
        koppeling,
        reden,
        count(*) as aantal
    from records
    group by bron, koppeling, reden

),

final as (

    select
        bron,
        koppeling,
        reden,
        cast(aantal as integer) as aantal,
        cast(round(100.0 * aantal / sum(aantal) over (partition by bron), 1) as numeric(5, 1)) as aandeel_pct,
        cast(sum(aantal) over (partition by bron) as integer) as totaal_bron
    from tellingen

)

select * from final
