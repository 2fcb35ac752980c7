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

-- the counts at the base peildatum, with a zero for each key only the mutations have. One grouping instead of
-- a join back to basis: the base peildatum's rows were written by the previous run, so the statistics usually
-- do not know them yet; PostgreSQL then expects one row and joined basis to itself in a nested loop
-- (17,442 x 17,442 key comparisons, 17-27 s on bench/incremental's history).
beginstand as (

    select
        gemeente_code,
        jaar,
        maand,
        sum(aanslagen) as aanslagen
    from (
        select
            gemeente_code,
            jaar,
            maand,
            aanslagen
        from basis
        union all
        select
            gemeente_code,
            jaar,
            maand,
            0 as aanslagen
        from mutaties_per_dag
    ) as sleutels
    group by gemeente_code, jaar, maand

),

stand as (

    select
        p.peildatum,
        p.aantal_leveringen,
        k.gemeente_code,
        k.jaar,
        k.maand,
        k.aanslagen + coalesce(sum(m.mutatie), 0) as aanslagen
    from peildata as p
    cross join beginstand as k
    left join mutaties_per_dag as m
        on
            k.gemeente_code = m.gemeente_code and k.jaar = m.jaar and k.maand = m.maand
            and p.peildatum >= m.datum
    group by p.peildatum, p.aantal_leveringen, k.gemeente_code, k.jaar, k.maand, k.aanslagen

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
