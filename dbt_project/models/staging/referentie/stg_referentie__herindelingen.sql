-- Municipal mergers and splits since 2018: one row per (abolished code, receiving municipality).
with

source as (

    select * from {{ ref('gemeentelijke_herindelingen') }}

),

renamed as (

    select
        ---------- ids
        oude_gm_code as oude_gemeente_code,
        nieuwe_gm_code as nieuwe_gemeente_code,

        ---------- strings
        oude_naam,
        nieuwe_naam,
        opmerking,
        bron,

        ---------- booleans
        coalesce(opmerking ilike 'splitsing%', false) as is_splitsing,

        ---------- dates
        ingangsdatum

    from source

)

select * from renamed
