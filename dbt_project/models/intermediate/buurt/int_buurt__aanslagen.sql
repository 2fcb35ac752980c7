-- Every counted incident (the target's definition: telt_mee and not withdrawn) as known now, on today's
-- municipal boundaries, with its police unit, its address pseudonym (lower case) and whether its postcode4 is in
-- the CBS reference (a postcode4 missing there is unknown, never an error).
with

incidenten as (

    select * from {{ ref('int_politie__incidenten_actueel') }}
    where telt_voor_doel

),

pseudoniemen as (

    select * from {{ ref('stg_politie__adrespseudoniemen') }}

),

gemeenten as (

    select
        gemeente_code,
        politie_eenheid
    from {{ ref('stg_referentie__gemeenten') }}

),

postcodes as (

    select postcode4 from {{ ref('stg_referentie__postcode4') }}

),

final as (

    select
        i.incident_id,
        i.gemeente_code_actueel as gemeente_code,
        g.politie_eenheid,
        nullif(trim(i.postcode4), '') as postcode4,
        pc.postcode4 is not null as is_postcode4_bekend,
        i.doelwit,
        i.incident_datum,
        cast(extract(year from i.incident_datum) as integer) as jaar,
        p.adres_pseudoniem,
        i.peildatum
    from incidenten as i
    left join pseudoniemen as p
        on i.incident_id = p.incident_id
    left join gemeenten as g
        on i.gemeente_code_actueel = g.gemeente_code
    left join postcodes as pc
        on pc.postcode4 = nullif(trim(i.postcode4), '')

)

select * from final
