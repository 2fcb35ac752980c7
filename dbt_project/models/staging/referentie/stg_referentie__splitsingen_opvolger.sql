-- Our rule for split municipalities: the one successor an incident with the old code is counted in.
with

source as (

    select * from {{ ref('splitsingen_opvolger') }}

),

renamed as (

    select
        ---------- ids
        oude_gm_code as oude_gemeente_code,
        opvolger_gm_code as opvolger_gemeente_code,

        ---------- strings
        regel

    from source

)

select * from renamed
