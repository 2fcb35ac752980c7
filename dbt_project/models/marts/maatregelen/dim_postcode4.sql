-- The postcode4 areas (CBS) with centroid, municipality and police unit: the geography the evaluation of measures
-- needs (comparison pool per police unit, neighbours within about 1 km). Public reference data (CC BY 4.0).
with

postcodes as (

    select * from {{ ref('stg_referentie__postcode4') }}

),

gemeenten as (

    select gemeente_code, politie_eenheid from {{ ref('stg_referentie__gemeenten') }}

)

select
    p.postcode4,
    p.gemeente_code,
    g.politie_eenheid,
    p.lat,
    p.lon,
    p.inwoners
from postcodes as p
inner join gemeenten as g
    on g.gemeente_code = p.gemeente_code
