{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='peildatum',
        on_schema_change='fail',
        indexes=[{'columns': ['peildatum', 'jaar']}]
    )
}}

-- What we knew when, per month: counted incidents per municipality of today, year and month of incident_datum,
-- as known at each police delivery's peildatum (the incident versions valid on that peildatum). The forecast
-- of the running year and its revision estimate read this (through doel_stand and aanslagen_per_maand_historie).
-- Derived from the deliveries only, never from the clock. Months without a counted incident have no row.
--
-- Incremental: the peildata from the oldest one whose set of delivered files changed are recomputed (a late
-- delivery with an older peildatum changes what was known at every later peildatum).

{% set incrementeel = is_incremental() %}
{% if incrementeel and execute %}
    {% set vanaf = run_query(
        "with nieuw as (
            select peildatum, count(*) as aantal from " ~ ref('int_politie__leveringen') ~ " group by peildatum
        ), oud as (
            select distinct peildatum, aantal_leveringen from " ~ this ~ "
        )
        select min(n.peildatum)::text from nieuw as n
        left join oud as o on o.peildatum = n.peildatum
        where o.aantal_leveringen is distinct from n.aantal"
    ).columns[0].values()[0] %}
{% else %}
    {% set vanaf = none %}
{% endif %}

with

peildata as (

    select peildatum, count(*) as aantal_leveringen
    from {{ ref('int_politie__leveringen') }}
    group by peildatum

),

herberekend as (

    select * from peildata
    {% if incrementeel %}
    where peildatum >= {{ "'" ~ vanaf ~ "'::date" if vanaf else "'infinity'::date" }}
    {% endif %}

),

standen as (

    select
        p.peildatum,
        v.gemeente_code_actueel as gemeente_code,
        v.jaar,
        cast(extract(month from v.incident_datum) as integer) as maand,
        count(*) as aanslagen,
        max(p.aantal_leveringen) as aantal_leveringen
    from herberekend as p
    inner join {{ ref('int_politie__incident_versies') }} as v
        on v.geldig_vanaf <= p.peildatum
        and (v.geldig_tot is null or v.geldig_tot > p.peildatum)
    where v.telt_voor_doel
      and not v.is_vervangen
    group by p.peildatum, v.gemeente_code_actueel, v.jaar, cast(extract(month from v.incident_datum) as integer)

),

final as (

    select
        peildatum,
        gemeente_code,
        cast(jaar as integer) as jaar,
        maand,
        cast(aanslagen as integer) as aanslagen,
        cast(aantal_leveringen as integer) as aantal_leveringen
    from standen

)

select * from final
