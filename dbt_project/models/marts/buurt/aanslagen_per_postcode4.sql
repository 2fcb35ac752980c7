{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook="{{ postcode4_paren_opruimen() }}",
        post_hook=[
            "{{ analyseer_als_nieuw() }}",
            {
                "sql": "create index if not exists aanslagen_per_postcode4_paar on {{ this }} (gemeente_code, coalesce(postcode4, ''))",
                "transaction": false
            },
            {
                "sql": "create index if not exists aanslagen_per_postcode4_bijgewerkt_op on {{ this }} (bijgewerkt_op)",
                "transaction": false
            }
        ]
    )
}}

-- depends_on: {{ ref('int_politie__incident_versies') }}
-- (read by macro postcode4_paren_gewijzigd only in incremental runs)

-- Counted attacks per municipality of today, postcode4, month and target. Row-level security
-- (explosion_monitor.access): only the municipality's own login and analist see rows. An empty postcode4 is
-- null; a postcode4 missing from the CBS reference is kept, flagged as unknown.
--
-- Incremental: the (municipality, postcode4) pairs of every version of the incidents that changed since the last
-- run, old and new (macro postcode4_paren_gewijzigd), are recounted whole. The pre-hook removes their rows; this
-- inserts the recount of each such pair that has no rows left. That second condition keeps the two in step if
-- the pre-hook removed the rows of the newest bijgewerkt_op and so lowered the watermark read here: a pair that
-- only the lower watermark adds was recounted by an earlier run and is left as it is.

with

{% if is_incremental() %}

    paren as (

        {{ postcode4_paren_gewijzigd() }}

    ),

    aanslagen as (

        select a.*
        from {{ ref('int_buurt__aanslagen') }} as a
        inner join paren as p
            on
                a.gemeente_code = p.gemeente_code
                and coalesce(a.postcode4, '') = p.postcode4_sleutel
        where not exists (
            select 1 from {{ this }} as t
            where
                t.gemeente_code = p.gemeente_code
                and coalesce(t.postcode4, '') = p.postcode4_sleutel
        )

    ),

{% else %}

    aanslagen as (

        select * from {{ ref('int_buurt__aanslagen') }}

    ),

{% endif %}

telling as (

    {{ telling_per_postcode4('aanslagen') }}

),

final as (

    select
        *,
        {{ run_tijdstip() }} as bijgewerkt_op
    from telling

)

select * from final
