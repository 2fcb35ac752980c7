-- Insurer damage and housing impact per municipality of today and year (of schadedatum for claims, of
-- incident_datum for housing reports), for every municipality and every year with a claim or report.
-- Insurer damage counts claims with oorzaak = explosie_opzet and a status other than afgewezen, whether
-- or not the claim is linked to a police incident; so do the housing figures.
with

records as (

    select * from {{ ref('int_koppelingen__claims_meldingen') }}

),

claims as (

    select
        r.gemeente_code_actueel as gemeente_code,
        r.jaar,
        count(*) as claims,
        coalesce(sum(c.schade_geraamd_eur), 0) as schade_geraamd_eur,
        coalesce(sum(c.uitgekeerd_eur), 0) as uitgekeerd_eur,
        count(*) filter (where c.tijdelijke_huisvesting) as claims_tijdelijke_huisvesting
    from records as r
    inner join {{ ref('stg_verzekeraars__claims') }} as c
        on
            r.bron = 'verzekeraars'
            and r.partner_code = c.verzekeraar_code
            and r.record_id = c.claim_id
    where c.telt_als_schade
    group by r.gemeente_code_actueel, r.jaar

),

meldingen as (

    select
        r.gemeente_code_actueel as gemeente_code,
        r.jaar,
        count(*) as woningmeldingen,
        coalesce(sum(m.woningen_beschadigd), 0) as woningen_beschadigd,
        coalesce(sum(m.woningen_onbewoonbaar), 0) as woningen_onbewoonbaar,
        coalesce(sum(m.huishoudens_ontheemd), 0) as huishoudens_ontheemd,
        coalesce(sum(m.herstelkosten_eur), 0) as herstelkosten_eur,
        count(*) filter (where m.nazorg_aangeboden) as woningmeldingen_met_nazorg,
        count(*) filter (where m.is_gesloten) as sluitingen
    from records as r
    inner join {{ ref('stg_corporaties__meldingen') }} as m
        on
            r.bron = 'corporaties'
            and r.partner_code = m.corporatie_code
            and r.record_id = m.melding_id
    group by r.gemeente_code_actueel, r.jaar

),

gemeenten as (

    select
        gemeente_code,
        gemeente_naam
    from {{ ref('dim_gemeenten') }}

),

jaren as (

    select generate_series(min(jaar), max(jaar)) as jaar
    from records

),

final as (

    select
        g.gemeente_code,
        g.gemeente_naam,
        cast(j.jaar as integer) as jaar,
        cast(coalesce(c.claims, 0) as integer) as claims,
        cast(coalesce(c.schade_geraamd_eur, 0) as numeric(14, 2)) as schade_geraamd_eur,
        cast(coalesce(c.uitgekeerd_eur, 0) as numeric(14, 2)) as uitgekeerd_eur,
        cast(coalesce(c.claims_tijdelijke_huisvesting, 0) as integer) as claims_tijdelijke_huisvesting,
        cast(coalesce(m.woningmeldingen, 0) as integer) as woningmeldingen,
        cast(coalesce(m.woningen_beschadigd, 0) as integer) as woningen_beschadigd,
        cast(coalesce(m.woningen_onbewoonbaar, 0) as integer) as woningen_onbewoonbaar,
        cast(coalesce(m.huishoudens_ontheemd, 0) as integer) as huishoudens_ontheemd,
        cast(coalesce(m.herstelkosten_eur, 0) as numeric(14, 2)) as herstelkosten_eur,
        cast(coalesce(m.woningmeldingen_met_nazorg, 0) as integer) as woningmeldingen_met_nazorg,
        cast(coalesce(m.sluitingen, 0) as integer) as sluitingen
    from gemeenten as g
    cross join jaren as j
    left join claims as c
        on
            g.gemeente_code = c.gemeente_code
            and j.jaar = c.jaar
    left join meldingen as m
        on
            g.gemeente_code = m.gemeente_code
            and j.jaar = m.jaar

)

select * from final
