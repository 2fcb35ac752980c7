-- One row per levering from the loader's ledger: which file ids exist per feed and whether they loaded, up to
-- the build's delivery window (stg_ops__leveringsvenster).
with

source as (

    select * from {{ source('ops', 'ledger') }}
    where file_id <= (select max(v.tot_en_met_file_id) from {{ ref('stg_ops__leveringsvenster') }} as v)

),

renamed as (

    select
        ---------- ids
        file_id,

        ---------- strings
        feed,
        status,
        object_key as bestandsnaam,

        ---------- numerics
        rows_loaded as rijen_geladen,

        ---------- timestamps
        arrived_at as aangekomen_op,
        finished_at as afgerond_op

    from source

)

select * from renamed
