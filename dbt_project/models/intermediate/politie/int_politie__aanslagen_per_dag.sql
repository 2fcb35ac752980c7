{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['gemeente_code', 'incident_datum'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['gemeente_code', 'incident_datum'], 'unique': True},
            {'columns': ['bijgewerkt_op']},
        ],
        post_hook=["delete from {{ this }} where aanslagen = 0", "{{ analyseer_als_nieuw() }}"]
    )
}}

-- Counted incidents (telt_mee and not withdrawn, as known in the newest delivery) per municipality of today
-- and day, with the breakdowns the marts need. Every mart about the target metric aggregates this table,
-- never the incident history.
--
-- Incremental: the (municipality, day) groups touched by versions written since this model last ran
-- (old and new versions, so an incident that moved also leaves its old group) are counted again; a group
-- that drops to zero is removed, so the table equals a full rebuild.

with

{% if is_incremental() %}

    groepen as (

        select distinct
            gemeente_code_actueel as gemeente_code,
            incident_datum
        from {{ ref('int_politie__incident_versies') }}
        where bijgewerkt_op > {{ watermerk() }}

    ),

    tellingen as (

        select
            g.gemeente_code,
            g.incident_datum,
            t.*
        from groepen as g
        cross join lateral (
            select
                {{ aanslag_tellingen('v') }}
            from {{ ref('int_politie__incident_versies') }} as v
            where
                v.gemeente_code_actueel = g.gemeente_code
                and v.incident_datum = g.incident_datum
                and v.is_actueel
                and v.telt_voor_doel
        ) as t

    ),

{% else %}

    tellingen as (

        select
            v.gemeente_code_actueel as gemeente_code,
            v.incident_datum,
            {{ aanslag_tellingen('v') }}
        from {{ ref('int_politie__incident_versies') }} as v
        where
            v.is_actueel
            and v.telt_voor_doel
        group by v.gemeente_code_actueel, v.incident_datum

    ),

{% endif %}

final as (

    select
        gemeente_code,
        incident_datum,
        cast(extract(year from incident_datum) as integer) as jaar,
        cast(extract(month from incident_datum) as integer) as maand,
        cast(aanslagen as integer) as aanslagen,
        cast(afgegaan as integer) as afgegaan,
        cast(pogingen as integer) as pogingen,
        cast(aangetroffen as integer) as aangetroffen,
        cast(doelwit_woning as integer) as doelwit_woning,
        cast(doelwit_bedrijf as integer) as doelwit_bedrijf,
        cast(doelwit_voertuig as integer) as doelwit_voertuig,
        cast(doelwit_geldautomaat as integer) as doelwit_geldautomaat,
        cast(doelwit_overig as integer) as doelwit_overig,
        cast(explosief_zwaar_vuurwerk as integer) as explosief_zwaar_vuurwerk,
        cast(gewonden as integer) as gewonden,
        cast(doden as integer) as doden,
        {{ run_tijdstip() }} as bijgewerkt_op
    from tellingen

)

select * from final
