{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['file_id', 'peildatum'],
        on_schema_change='fail'
    )
}}

-- One row per police delivery and peildatum: the extracts the history is told in. Small (one row per file).
-- Incremental: only files not yet listed, from the versions written since this model last ran.

with

versies as (

    select
        file_id,
        peildatum,
        aangekomen_op
    from {{ ref('int_politie__incident_versies') }}
    {% if is_incremental() %}
        where
            bijgewerkt_op > {{ watermerk('verwerkt_op') }}
            and file_id not in (select eerder.file_id from {{ this }} as eerder)
    {% endif %}

),

final as (

    select
        file_id,
        peildatum,
        count(*) as aantal_rijen,
        min(aangekomen_op) as aangekomen_op,
        {{ run_tijdstip() }} as verwerkt_op
    from versies
    group by file_id, peildatum

)

select * from final
