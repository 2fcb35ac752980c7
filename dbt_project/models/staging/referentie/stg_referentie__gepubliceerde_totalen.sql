-- The published national figures for the target metric, per year.
with

source as (

    select * from {{ ref('gepubliceerde_totalen') }}

),

renamed as (

    select
        ---------- ids
        jaar,

        ---------- strings
        bron,

        ---------- numerics
        aantal as aantal_gepubliceerd,

        ---------- dates
        publicatiedatum

    from source

)

select * from renamed
