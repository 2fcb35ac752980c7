{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='incident_id',
        on_schema_change='sync_all_columns',
        pre_hook="{{ niet_meer_getelde_opruimen() }}",
        post_hook=[
            "{{ analyseer_als_nieuw() }}",
            {
                "sql": "create unique index if not exists int_buurt__aanslagen_incident_id on {{ this }} (incident_id)",
                "transaction": false
            },
            {
                "sql": "create index if not exists int_buurt__aanslagen_bijgewerkt_op on {{ this }} (bijgewerkt_op)",
                "transaction": false
            },
            {
                "sql": "create index if not exists int_buurt__aanslagen_paar on {{ this }} (gemeente_code, coalesce(postcode4, ''))",
                "transaction": false
            }
        ]
    )
}}

-- Every counted incident (the target's definition: telt_mee and not withdrawn) as known now, on today's
-- municipal boundaries, with its police unit, its address pseudonym (lower case) and whether its postcode4 is in
-- the CBS reference (a postcode4 missing there is unknown, never an error).
--
-- Incremental, like fct_explosie_incidenten: the incidents whose versions changed since the last run are
-- replaced, those that stopped counting are removed by the pre-hook. The pseudonym is that of the current
-- version's own row (its file and line), found through the BRIN index on raw.politie's file id, so a drop never
-- orders the versions of the whole history again. A table from before this column existed has no bijgewerkt_op
-- (sync_all_columns adds it empty): its watermark is -infinity, so its next run replaces every row. The indexes
-- are post-hooks, not `indexes=`, which dbt creates only with a new table: an upgraded one gets them too. The
-- one on (gemeente_code, postcode4 key) serves aanslagen_per_postcode4's recount of changed pairs.

{% set incrementeel = is_incremental() %}

with

incidenten as (

    select * from {{ ref('int_politie__incidenten_actueel') }}
    where
        telt_voor_doel
        {% if incrementeel %}
            and bijgewerkt_op > {{ watermerk() }}
        {% endif %}

),

versierijen as (

    select
        file_id,
        regelnummer,
        adres_pseudoniem
    from {{ ref('stg_politie__incident_versies') }}
    {% if incrementeel %}
        -- only the files that hold a current version of a changed incident (BRIN on raw.politie._file_id)
        where file_id = any(array(select distinct i.file_id from incidenten as i))
    {% endif %}

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
        v.adres_pseudoniem,
        i.peildatum,
        {{ run_tijdstip() }} as bijgewerkt_op
    from incidenten as i
    left join versierijen as v
        on
            i.file_id = v.file_id
            and i.regelnummer = v.regelnummer
    left join gemeenten as g
        on i.gemeente_code_actueel = g.gemeente_code
    left join postcodes as pc
        on pc.postcode4 = nullif(trim(i.postcode4), '')

)

select * from final
