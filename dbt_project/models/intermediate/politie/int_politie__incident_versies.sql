{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='incident_id',
        on_schema_change='fail',
        indexes=[
            {'columns': ['incident_id']},
            {'columns': ['file_id']},
            {'columns': ['bijgewerkt_op']},
            {'columns': ['gemeente_code_actueel', 'incident_datum']},
            {'columns': ['geldig_vanaf']},
            {'columns': ['geldig_tot']},
        ],
        post_hook="{{ analyseer_als_nieuw() }}"
    )
}}

-- Every delivered version of every police incident, with the period it was the known truth:
-- from its peildatum (geldig_vanaf) until the peildatum of the next version (geldig_tot, exclusive).
-- For two versions with the same peildatum the later-arrived file wins; the other is kept as
-- `is_vervangen` with an empty period. The version without geldig_tot is the incident as known now.
--
-- Incremental: each run reads only the rows of police files not yet in this model (by file id, from the
-- ledger), re-orders the versions of the incidents those rows touch, and replaces those incidents.
-- This is what the as-of history is derived from: it depends on the deliveries only, so a rebuild from
-- the archive (dbt build --full-refresh) gives the same periods.

with

{% if is_incremental() %}

    nieuwe_rijen as (

        select
            *,
            {{ run_tijdstip() }} as eerst_verwerkt_op
        from {{ ref('stg_politie__incident_versies') }}
        where file_id in {{ nieuwe_bestanden('politie') }}

    ),

    -- the versions already known of the incidents the new rows touch
    bestaande_rijen as (

        select
            {{ incident_versie_kolommen() }},
            eerst_verwerkt_op
        from {{ this }}
        where incident_id = any(array(select distinct n.incident_id from nieuwe_rijen as n))

    ),

    rijen as (

        select
            {{ incident_versie_kolommen() }},
            eerst_verwerkt_op
        from nieuwe_rijen

        union all

        select * from bestaande_rijen

    ),

{% else %}

    rijen as (

        select
            {{ incident_versie_kolommen('v') }},
            {{ run_tijdstip() }} as eerst_verwerkt_op
        from {{ ref('stg_politie__incident_versies') }} as v
        where v.file_id in (
            select b.file_id from {{ ref('stg_ops__leveringen') }} as b
            where b.feed = 'politie' and b.status = 'loaded'
        )

    ),

{% endif %}

gerangschikt as (

    select
        *,
        row_number() over (
            partition by incident_id, peildatum
            order by aangekomen_op desc, file_id desc
        ) as rang_binnen_peildatum
    from rijen

),

winnaars as (

    select
        incident_id,
        peildatum,
        lead(peildatum) over (partition by incident_id order by peildatum) as volgende_peildatum
    from gerangschikt
    where rang_binnen_peildatum = 1

),

gemeenten as (

    select * from {{ ref('int_gemeenten__code_mapping') }}

),

final as (

    select
        ---------- ids
        g.incident_id,
        g.file_id,
        g.regelnummer,

        ---------- strings
        g.gemeente_code,
        coalesce(m.gemeente_code_actueel, g.gemeente_code) as gemeente_code_actueel,
        g.postcode4,
        g.doelwit,
        g.uitkomst,
        g.explosief,

        ---------- numerics
        cast(extract(year from g.incident_datum) as integer) as jaar,
        g.gewonden,
        g.doden,

        ---------- booleans
        g.telt_mee,
        g.ingetrokken,
        g.telt_voor_doel,
        g.rang_binnen_peildatum > 1 as is_vervangen,
        g.rang_binnen_peildatum = 1 and w.volgende_peildatum is null as is_actueel,
        m.gemeente_code_actueel is not null as is_gemeente_code_gemapt,

        ---------- dates
        g.incident_datum,
        g.peildatum,
        g.peildatum as geldig_vanaf,
        case when g.rang_binnen_peildatum = 1 then w.volgende_peildatum else g.peildatum end as geldig_tot,

        ---------- timestamps
        g.aangekomen_op,
        g.geladen_op,
        g.eerst_verwerkt_op,
        {{ run_tijdstip() }} as bijgewerkt_op

    from gerangschikt as g
    inner join winnaars as w
        on
            g.incident_id = w.incident_id
            and g.peildatum = w.peildatum
    left join gemeenten as m
        on
            g.gemeente_code = m.gemeente_code
            and (m.geldig_tot is null or g.incident_datum < m.geldig_tot)

)

select * from final
