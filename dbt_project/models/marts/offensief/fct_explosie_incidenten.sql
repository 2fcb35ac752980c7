{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='incident_id',
        on_schema_change='fail',
        indexes=[
            {'columns': ['bijgewerkt_op']},
            {'columns': ['gemeente_code', 'incident_datum']},
        ],
        pre_hook="{{ niet_meer_getelde_opruimen() }}",
        post_hook=[
            "{{ analyseer_als_nieuw() }}",
            {
                "sql": "create index if not exists fct_explosie_incidenten_gekoppeld on {{ this }} (incident_id) where aantal_claims > 0 or aantal_woningmeldingen > 0",
                "transaction": false
            }
        ]
    )
}}

-- One row per counted incident (telt_mee and not withdrawn, whatever the uitkomst), as known in the newest
-- police delivery, on today's municipal boundaries, with the insurer damage and housing impact linked to it.
--
-- Incremental: incidents whose versions changed since the last run, and incidents whose linked claims or
-- reports changed, are replaced; incidents that stopped counting are removed by the pre-hook.

{% set kolommen = koppeling_kolommen() %}

with

{% if is_incremental() %}

    oud as (

        select
            incident_id,
            {{ kolommen | join(', ') }}
        from {{ this }}
        where aantal_claims > 0 or aantal_woningmeldingen > 0

    ),

    gewijzigd as (

        select incident_id
        from {{ ref('int_politie__incidenten_actueel') }}
        where bijgewerkt_op > {{ watermerk() }}

        union

        -- incidents whose linked claims or housing reports differ from what this table holds
        select coalesce(nieuw.incident_id, oud.incident_id)
        from {{ ref('int_koppelingen__per_incident') }} as nieuw
        full outer join oud
            on nieuw.incident_id = oud.incident_id
        where
            row({{ 'nieuw.' ~ kolommen | join(', nieuw.') }})
            is distinct from row({{ 'oud.' ~ kolommen | join(', oud.') }})

    ),

    incidenten as (

        select *
        from {{ ref('int_politie__incidenten_actueel') }}
        where
            telt_voor_doel
            and incident_id = any(array(select g.incident_id from gewijzigd as g))

    ),

{% else %}

    incidenten as (

        select *
        from {{ ref('int_politie__incidenten_actueel') }}
        where telt_voor_doel

    ),

{% endif %}

koppelingen as (

    select * from {{ ref('int_koppelingen__per_incident') }}

),

final as (

    select
        ---------- ids
        i.incident_id,
        i.gemeente_code_actueel as gemeente_code,
        i.gemeente_code as gemeente_code_gemeld,

        ---------- strings
        i.postcode4,
        i.doelwit,
        i.uitkomst,
        i.explosief,

        ---------- numerics
        i.jaar,
        i.gewonden,
        i.doden,
        cast(coalesce(k.aantal_claims, 0) as integer) as aantal_claims,
        cast(coalesce(k.aantal_claims_schade, 0) as integer) as aantal_claims_schade,
        cast(coalesce(k.schade_geraamd_eur, 0) as numeric(14, 2)) as schade_geraamd_eur,
        cast(coalesce(k.uitgekeerd_eur, 0) as numeric(14, 2)) as uitgekeerd_eur,
        coalesce(k.tijdelijke_huisvesting, false) as tijdelijke_huisvesting,
        cast(coalesce(k.aantal_woningmeldingen, 0) as integer) as aantal_woningmeldingen,
        k.woningen_beschadigd,
        k.woningen_onbewoonbaar,
        k.huishoudens_ontheemd,
        k.herstelkosten_eur,

        ---------- booleans
        k.nazorg_aangeboden,
        k.is_gesloten,

        ---------- strings (closure)
        k.sluiting,

        ---------- dates
        i.incident_datum,
        k.sluiting_start,
        k.sluiting_eind,
        i.peildatum,

        ---------- timestamps
        {{ run_tijdstip() }} as bijgewerkt_op

    from incidenten as i
    left join koppelingen as k
        on i.incident_id = k.incident_id

)

select * from final
