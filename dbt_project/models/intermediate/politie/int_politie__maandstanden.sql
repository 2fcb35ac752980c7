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
-- of the running year and its revision estimate read this (through aanslagen_per_maand_historie and doel_stand).
-- Derived from the deliveries only, never from the clock. Months without a counted incident have no row.
--
-- Incremental, like target_progress_historie: the peildata from the oldest one whose set of delivered files
-- changed are recomputed from the counts at the last peildatum before it plus the versions that began (+1) or
-- ended (-1) in between, found through the indexes on geldig_vanaf and geldig_tot; a drop never rescans the
-- whole history.

{% if is_incremental() and execute %}
    {% set grenzen = run_query(
        "with nieuw as (
            select peildatum, count(*) as aantal from " ~ ref('int_politie__leveringen') ~ " group by peildatum
        ), oud as (
            select distinct peildatum, aantal_leveringen from " ~ this ~ "
        ), vanaf as (
            select min(n.peildatum) as p from nieuw as n
            left join oud as o on o.peildatum = n.peildatum
            where o.aantal_leveringen is distinct from n.aantal
        )
        select (select p from vanaf)::text,
               (select max(peildatum) from " ~ this ~ " where peildatum < (select p from vanaf))::text"
    ) %}
    {% set vanaf = grenzen.columns[0].values()[0] %}
    {% set basis_peildatum = grenzen.columns[1].values()[0] %}
{% else %}
    {% set vanaf = none %}
    {% set basis_peildatum = none %}
{% endif %}

{% set incrementeel = is_incremental() %}
{% if incrementeel and not vanaf %}
    {% set ondergrens = "'infinity'::date" %}
{% elif basis_peildatum %}
    {% set ondergrens = "'" ~ basis_peildatum ~ "'::date" %}
{% else %}
    {% set ondergrens = "'-infinity'::date" %}
{% endif %}

with

leveringen as (

    select
        peildatum,
        count(*) as aantal_leveringen
    from {{ ref('int_politie__leveringen') }}
    group by peildatum

),

peildata as (

    select * from leveringen
    {% if incrementeel %}
        where peildatum >= {{ "'" ~ vanaf ~ "'::date" if vanaf else "'infinity'::date" }}
    {% endif %}

),

-- the counts at the last peildatum before the recomputed ones
basis as (

    {% if incrementeel and basis_peildatum %}
        select
            gemeente_code,
            jaar,
            maand,
            aanslagen
        from {{ this }}
        where peildatum = {{ ondergrens }}
    {% else %}
        select
            cast(null as text) as gemeente_code,
            cast(null as integer) as jaar,
            cast(null as integer) as maand,
            0 as aanslagen
        where false
    {% endif %}

),

-- +1 when a counted version starts being the known truth, -1 when it stops (after the base peildatum)
mutaties as (

    select
        geldig_vanaf as datum,
        gemeente_code_actueel as gemeente_code,
        jaar,
        cast(extract(month from incident_datum) as integer) as maand,
        1 as mutatie
    from {{ ref('int_politie__incident_versies') }}
    where
        telt_voor_doel
        and not is_vervangen
        and geldig_vanaf > {{ ondergrens }}

    union all

    select
        geldig_tot,
        gemeente_code_actueel,
        jaar,
        cast(extract(month from incident_datum) as integer),
        -1
    from {{ ref('int_politie__incident_versies') }}
    where
        telt_voor_doel
        and not is_vervangen
        and geldig_tot > {{ ondergrens }}

),

mutaties_per_dag as (

    select
        datum,
        gemeente_code,
        jaar,
        maand,
        sum(mutatie) as mutatie
    from mutaties
    group by datum, gemeente_code, jaar, maand

),

sleutels as (

    select
        gemeente_code,
        jaar,
        maand
    from basis
    union
    select
        gemeente_code,
        jaar,
        maand
    from mutaties_per_dag

),

stand as (

    select
        p.peildatum,
        p.aantal_leveringen,
        k.gemeente_code,
        k.jaar,
        k.maand,
        coalesce(b.aanslagen, 0) + coalesce(sum(m.mutatie), 0) as aanslagen
    from peildata as p
    cross join sleutels as k
    left join basis as b
        on k.gemeente_code = b.gemeente_code and k.jaar = b.jaar and k.maand = b.maand
    left join mutaties_per_dag as m
        on
            k.gemeente_code = m.gemeente_code and k.jaar = m.jaar and k.maand = m.maand
            and p.peildatum >= m.datum
    group by p.peildatum, p.aantal_leveringen, k.gemeente_code, k.jaar, k.maand, b.aanslagen

),

final as (

    select
        peildatum,
        gemeente_code,
        cast(jaar as integer) as jaar,
        cast(maand as integer) as maand,
        cast(aanslagen as integer) as aanslagen,
        cast(aantal_leveringen as integer) as aantal_leveringen
    from stand
    where aanslagen <> 0

)

select * from final
