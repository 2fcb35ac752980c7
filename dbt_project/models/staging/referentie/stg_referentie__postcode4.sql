-- The postcode4 areas of 2020/2021 (CBS) with their centroid, municipality of 2025 and population.
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
        lat,
        lon,
        inwoners

    from source

)

select * from renamed
