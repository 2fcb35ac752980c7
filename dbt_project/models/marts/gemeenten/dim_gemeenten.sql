-- The municipalities of today (CBS, 1 January 2025), one row each: every figure is reported on these
-- boundaries. Population is that of 1 January of `inwoners_peiljaar` (2024).
with

gemeenten as (

    select * from {{ ref('stg_referentie__gemeenten') }}

),

indelingen as (

    select * from {{ ref('stg_referentie__gemeente_indelingen') }}

),

final as (

    select
        g.gemeente_code,
        g.gemeente_naam,
        g.provincie,
        i.provincie_code,
        g.politie_eenheid,
        i.politie_eenheid_code,
        g.veiligheidsregio,
        i.veiligheidsregio_code,
        g.inwoners,
        g.inwoners_peiljaar,
        g.is_g4,
        g.is_g40,
        case when g.is_g4 then 'G4' when g.is_g40 then 'G40' else 'overig' end as gemeentegroep
    from gemeenten as g
    left join indelingen as i
        on g.gemeente_code = i.gemeente_code

)

select * from final
