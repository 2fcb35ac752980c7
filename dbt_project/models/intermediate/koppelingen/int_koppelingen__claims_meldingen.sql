-- One row per insurer claim and per housing report (newest version), with the municipality of today and
-- its link to a counted police incident:
--   expliciet       the record names a politie_incident_id and that incident is counted;
--   afgeleid        no politie_incident_id, but exactly the same municipality (of today) and postcode4 as a
--                   counted incident, with dates at most one day apart (the nearest, then the lowest id);
--   niet_gekoppeld  anything else. `reden` says why: the named incident is withdrawn, does not count, or has
--                   not been delivered (yet); or no postcode4, or no incident matches. Never an error.
with

claims as (

    select * from {{ ref('stg_verzekeraars__claims') }}

),

meldingen as (

    select * from {{ ref('stg_corporaties__meldingen') }}

),

incidenten as (

    select * from {{ ref('int_politie__incidenten_actueel') }}

),

gemeenten as (

    select * from {{ ref('int_gemeenten__code_mapping') }}

),

records as (

    select
        'verzekeraars' as bron,
        verzekeraar_code as partner_code,
        claim_id as record_id,
        politie_incident_id,
        gemeente_code,
        postcode4,
        schadedatum as datum
    from claims

    union all

    select
        'corporaties' as bron,
        corporatie_code as partner_code,
        melding_id as record_id,
        politie_incident_id,
        gemeente_code,
        postcode4,
        incident_datum as datum
    from meldingen

),

records_gemapt as (

    select
        r.*,
        coalesce(m.gemeente_code_actueel, r.gemeente_code) as gemeente_code_actueel
    from records as r
    left join gemeenten as m
        on
            r.gemeente_code = m.gemeente_code
            and (m.geldig_tot is null or r.datum < m.geldig_tot)

),

-- records that name a police incident: is it there, and does it count?
genoemd as (

    select
        r.bron,
        r.partner_code,
        r.record_id,
        i.incident_id as gevonden_incident_id,
        i.telt_mee,
        i.ingetrokken,
        i.telt_voor_doel
    from records_gemapt as r
    left join incidenten as i
        on r.politie_incident_id = i.incident_id
    where r.politie_incident_id is not null

),

-- records without a police id: counted incidents at the same place within one day
kandidaten as (

    select
        r.bron,
        r.partner_code,
        r.record_id,
        i.incident_id,
        abs(i.incident_datum - r.datum) as dagen_verschil,
        count(*) over (partition by r.bron, r.partner_code, r.record_id) as aantal_kandidaten,
        row_number() over (
            partition by r.bron, r.partner_code, r.record_id
            order by abs(i.incident_datum - r.datum), i.incident_id
        ) as rang
    from records_gemapt as r
    inner join incidenten as i
        on
            r.gemeente_code_actueel = i.gemeente_code_actueel
            and i.incident_datum between r.datum - 1 and r.datum + 1
            and r.postcode4 = i.postcode4
            and i.telt_voor_doel
    where r.politie_incident_id is null

),

beste_kandidaat as (

    select * from kandidaten
    where rang = 1

),

final as (

    select
        ---------- ids
        r.bron,
        r.partner_code,
        r.record_id,
        r.politie_incident_id,
        case
            when r.politie_incident_id is not null and g.telt_voor_doel then g.gevonden_incident_id
            when r.politie_incident_id is null then k.incident_id
        end as incident_id,

        ---------- strings
        r.gemeente_code,
        r.gemeente_code_actueel,
        r.postcode4,
        case
            when r.politie_incident_id is not null and g.telt_voor_doel then 'expliciet'
            when r.politie_incident_id is null and k.incident_id is not null then 'afgeleid'
            else 'niet_gekoppeld'
        end as koppeling,
        case
            when r.politie_incident_id is not null
                then
                    case
                        when g.gevonden_incident_id is null then 'incident_niet_geleverd'
                        when g.ingetrokken then 'incident_ingetrokken'
                        when not g.telt_mee then 'incident_telt_niet_mee'
                        else 'politie_incident_id'
                    end
            when k.incident_id is not null then 'gemeente_postcode_datum'
            when r.postcode4 is null then 'geen_postcode'
            else 'geen_overeenkomst'
        end as reden,

        ---------- numerics
        cast(extract(year from r.datum) as integer) as jaar,
        cast(coalesce(k.aantal_kandidaten, 0) as integer) as aantal_kandidaten,
        k.dagen_verschil,

        ---------- dates
        r.datum

    from records_gemapt as r
    left join genoemd as g
        on
            r.bron = g.bron
            and r.partner_code = g.partner_code
            and r.record_id = g.record_id
    left join beste_kandidaat as k
        on
            r.bron = k.bron
            and r.partner_code = k.partner_code
            and r.record_id = k.record_id

)

select * from final
