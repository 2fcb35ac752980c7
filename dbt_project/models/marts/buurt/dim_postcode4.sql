-- The postcode4 areas (CBS 2020/2021, CC BY 4.0) with centroid, municipality of 2025 and police unit: the grid
-- of the near-repeat and hotspot analysis. Public reference data; no incident is in it.
with

postcodes as (

    select * from {{ ref('stg_referentie__postcode4') }}

),

gemeenten as (

    select
        gemeente_code,
        politie_eenheid
    from {{ ref('stg_referentie__gemeenten') }}

),

final as (

    select
        p.postcode4,
        p.gemeente_code,
        p.gemeente_naam,
        g.politie_eenheid,
        p.lat,
        p.lon,
        p.inwoners
    from postcodes as p
    left join gemeenten as g
        on p.gemeente_code = g.gemeente_code

)

select * from final
