-- The postcode4 areas (CBS) with centroid, municipality of 2025 and population, from the vendored seed postcode4.
with

source as (

    select * from {{ ref('postcode4') }}

),

renamed as (

    select
        ---------- ids
        lpad(postcode4, 4, '0') as postcode4,
        gemeente_code,

        ---------- strings
        gemeente_naam,

        ---------- numerics
        cast(lat as double precision) as lat,
        cast(lon as double precision) as lon,
        inwoners

    from source

)

select * from renamed
