{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='sync_all_columns',
        pre_hook="{% if is_incremental() %}delete from {{ this }}{% endif %}"
    )
}}

-- The build's delivery window, fixed when the build starts: the newest file id in the ledger at that moment.
-- stg_ops__leveringen lists ledger rows up to it and the staging views over raw tables stop at it (macro
-- binnen_leveringsvenster), so a file loaded while the build runs is left whole to the next build. The quality
-- gate checks the raw rows of the files since the last publication up to it, and the publication records it
-- as marts.publicatie.tot_en_met_file_id.
-- One row, built in every build (run_build selects it). Incremental (its one row deleted and inserted in
-- one transaction), never re-created: the ledger view depends on it, and re-creating a table drops its
-- dependent views.
with

source as (

    select * from {{ source('ops', 'ledger') }}

),

venster as (

    select
        ---------- ids
        coalesce(max(file_id), 0)::bigint as tot_en_met_file_id,

        ---------- timestamps
        now() as vastgesteld_op

    from source

)

select * from venster
