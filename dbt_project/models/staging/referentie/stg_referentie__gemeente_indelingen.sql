-- The CBS region codes of each municipality of today: province (PV), safety region (VR), police unit (RE).
with

source as (

    select * from {{ ref('gemeenten_2025_codes') }}

),

renamed as (

    select
        ---------- ids
        gm_code as gemeente_code,
        pv_code as provincie_code,
        vr_code as veiligheidsregio_code,
        re_code as politie_eenheid_code

    from source

)

select * from renamed
