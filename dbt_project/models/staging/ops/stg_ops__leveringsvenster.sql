{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='venster'
    )
}}

-- The build's delivery window, fixed when the build starts: the newest file id in the ledger at that moment.
-- Every staging model reads raw rows (and ledger rows) up to it and no further, so a file loaded while the
-- build runs is left whole to the next build; the quality gate checks the raw rows up to it, and the
-- publication records it as marts.publicatie.tot_en_met_file_id.
-- One row, built first in every build (run_build selects it), so that the whole build sees one value.
-- Incremental (delete+insert of its one row), never re-created: the staging views depend on it, and
-- re-creating a table drops its dependent views, also those of feeds a partial build does not select.
with

source as (

    select * from {{ source('ops', 'ledger') }}

),

venster as (

    select
        ---------- ids
        1 as venster,
        coalesce(max(file_id), 0)::bigint as tot_en_met_file_id,

        ---------- timestamps
        now() as vastgesteld_op

    from source

)

select * from venster
