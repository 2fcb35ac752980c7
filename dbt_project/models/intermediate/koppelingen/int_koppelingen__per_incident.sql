-- Per counted police incident: the insurer claims and housing reports linked to it (explicitly or
-- inferred), summed. Insurer damage follows the contract: claims with oorzaak = explosie_opzet and a status
-- other than afgewezen. Only incidents with at least one linked record have a row.
with

koppelingen as (

    select * from {{ ref('int_koppelingen__claims_meldingen') }}
    where incident_id is not null

),

claims as (

    select * from {{ ref('stg_verzekeraars__claims') }}

),

meldingen as (

    select * from {{ ref('stg_corporaties__meldingen') }}

),

claims_per_incident as (

    select
        k.incident_id,
        count(*) as aantal_claims,
        count(*) filter (where c.telt_als_schade) as aantal_claims_schade,
        coalesce(sum(c.schade_geraamd_eur) filter (where c.telt_als_schade), 0) as schade_geraamd_eur,
        coalesce(sum(c.uitgekeerd_eur) filter (where c.telt_als_schade), 0) as uitgekeerd_eur,
        coalesce(bool_or(c.tijdelijke_huisvesting), false) as tijdelijke_huisvesting
    from koppelingen as k
    inner join claims as c
        on
            k.bron = 'verzekeraars'
            and k.partner_code = c.verzekeraar_code
            and k.record_id = c.claim_id
    group by k.incident_id

),

meldingen_per_incident as (

    select
        k.incident_id,
        count(*) as aantal_woningmeldingen,
        sum(m.woningen_beschadigd) as woningen_beschadigd,
        sum(m.woningen_onbewoonbaar) as woningen_onbewoonbaar,
        sum(m.huishoudens_ontheemd) as huishoudens_ontheemd,
        sum(m.herstelkosten_eur) as herstelkosten_eur,
        bool_or(m.nazorg_aangeboden) as nazorg_aangeboden,
        bool_or(m.is_gesloten) as is_gesloten,
        -- the heaviest closure among the reports: art. 13b Opiumwet, then art. 174a Gemeentewet, then none
        case
            when bool_or(m.sluiting = 'art13b_opiumwet') then 'art13b_opiumwet'
            when bool_or(m.sluiting = 'art174a_gemeentewet') then 'art174a_gemeentewet'
            when bool_or(m.sluiting = 'geen') then 'geen'
        end as sluiting,
        min(m.sluiting_start) filter (where m.is_gesloten) as sluiting_start,
        max(m.sluiting_eind) filter (where m.is_gesloten) as sluiting_eind
    from koppelingen as k
    inner join meldingen as m
        on
            k.bron = 'corporaties'
            and k.partner_code = m.corporatie_code
            and k.record_id = m.melding_id
    group by k.incident_id

),

final as (

    select
        coalesce(c.incident_id, m.incident_id) as incident_id,
        cast(coalesce(c.aantal_claims, 0) as integer) as aantal_claims,
        cast(coalesce(c.aantal_claims_schade, 0) as integer) as aantal_claims_schade,
        cast(coalesce(c.schade_geraamd_eur, 0) as numeric(14, 2)) as schade_geraamd_eur,
        cast(coalesce(c.uitgekeerd_eur, 0) as numeric(14, 2)) as uitgekeerd_eur,
        coalesce(c.tijdelijke_huisvesting, false) as tijdelijke_huisvesting,
        cast(coalesce(m.aantal_woningmeldingen, 0) as integer) as aantal_woningmeldingen,
        cast(m.woningen_beschadigd as integer) as woningen_beschadigd,
        cast(m.woningen_onbewoonbaar as integer) as woningen_onbewoonbaar,
        cast(m.huishoudens_ontheemd as integer) as huishoudens_ontheemd,
        cast(m.herstelkosten_eur as numeric(14, 2)) as herstelkosten_eur,
        m.nazorg_aangeboden,
        m.is_gesloten,
        m.sluiting,
        m.sluiting_start,
        m.sluiting_eind
    from claims_per_incident as c
    full outer join meldingen_per_incident as m
        on c.incident_id = m.incident_id

)

select * from final
