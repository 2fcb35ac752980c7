{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='peildatum',
        on_schema_change='fail'
    )
}}

-- What we knew when: the national target metric per year as known at each police delivery's peildatum
-- (counted incidents by year of incident_datum over the incident versions valid on that peildatum).
-- "What did we report in January 2025 for 2024?" is the row (peildatum 2025-01-15, jaar 2024).
-- Years with no counted incident at a peildatum have no row.
--
-- Derived from the deliveries only (int_politie__incident_versies), never from the clock, so a rebuild
-- from the archive gives the same rows. Incremental: the peildata whose set of delivered files changed are
-- recomputed from the previous peildatum's counts plus the versions that began or ended in between.

{% if is_incremental() and execute %}
    {# the oldest peildatum with a delivery this table has not seen, and the last peildatum before it #}
    {% set grenzen = run_query(
        "with nieuw as (
            select l.peildatum, count(*) as aantal
            from " ~ ref('int_politie__leveringen') ~ " as l
            group by l.peildatum
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
    {# nothing new delivered: recompute nothing #}
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
            jaar,
            aanslagen
        from {{ this }}
        where peildatum = {{ ondergrens }}
    {% else %}
        select
            cast(null as integer) as jaar,
            0 as aanslagen
        where false
    {% endif %}

),

-- +1 when a counted version starts being the known truth, -1 when it stops (after the base peildatum)
mutaties as (

    select
        geldig_vanaf as datum,
        jaar,
        1 as mutatie
    from {{ ref('int_politie__incident_versies') }}
    where
        telt_voor_doel
        and not is_vervangen
        and geldig_vanaf > {{ ondergrens }}

    union all

    select
        geldig_tot as datum,
        jaar,
        -1 as mutatie
    from {{ ref('int_politie__incident_versies') }}
    where
        telt_voor_doel
        and not is_vervangen
        and geldig_tot > {{ ondergrens }}

),

mutaties_per_dag as (

    select
        datum,
        jaar,
        sum(mutatie) as mutatie
    from mutaties
    group by datum, jaar

),

jaren as (

    select jaar from basis
    union
    select jaar from mutaties_per_dag

),

stand as (

    select
        p.peildatum,
        j.jaar,
        p.aantal_leveringen,
        coalesce((
            select b.aanslagen from basis as b
            where b.jaar = j.jaar
        ), 0)
        + coalesce((
            select sum(m.mutatie) from mutaties_per_dag as m
            where m.jaar = j.jaar and m.datum <= p.peildatum
        ), 0) as aanslagen
    from peildata as p
    cross join jaren as j

),

final as (

    select
        peildatum,
        jaar,
        cast(aanslagen as integer) as aanslagen,
        cast(aantal_leveringen as integer) as aantal_leveringen
    from stand
    where aanslagen <> 0

)

select * from final
