-- The municipalities of today (CBS, 1 January 2025), one row each, with population and the G4/G40 lists.
with

source as (

    select * from {{ ref('gemeenten_2025') }}

),

renamed as (

    select
        ---------- ids
        gm_code as gemeente_code,

        ---------- strings
        naam as gemeente_naam,
        provincie,
        politie_eenheid,
        veiligheidsregio,

        ---------- numerics
        inwoners,
        inwoners_peiljaar,

        ---------- booleans
        g4 as is_g4,
        g40 as is_g40

    from source

)

select * from renamed
