-- The Offensief's targets per year (seeds/doelen.csv): a rule for every level, or a unit's own target.
with

source as (

    select * from {{ ref('doelen') }}

),

renamed as (

    select
        ---------- ids
        jaar,
        nullif(trim(niveau), '') as niveau,
        nullif(trim(code), '') as code,

        ---------- strings
        bron,

        ---------- numerics
        basisjaar,
        cast(max_pct_van_basis as numeric) as max_pct_van_basis,
        max_aanslagen,

        ---------- booleans
        coalesce(aangenomen, true) as is_aangenomen

    from source

)

select * from renamed
