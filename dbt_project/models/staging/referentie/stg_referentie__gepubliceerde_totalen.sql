-- The published national figures per year, definition and source.
with

source as (

    select * from {{ ref('gepubliceerde_totalen') }}

),

renamed as (

    select
        ---------- ids
        jaar,

        ---------- strings
        definitie,
        bron,

        ---------- numerics
        aantal as aantal_gepubliceerd,

        ---------- booleans
        coalesce(ten_minste, false) as is_ten_minste,

        ---------- dates
        publicatiedatum

    from source

)

select * from renamed
