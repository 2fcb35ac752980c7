-- Repeat attacks over a rolling 365 days, so the New Year peak, which spans two calendar years, is not split:
-- an attack is a repeat when the same address (lower-case pseudonym) was hit at most 365 days before. Per
-- municipality of today and the year of the repeat, plus national rows ('NL'). Counted incidents only.
with

reeksen as (

    select * from {{ ref('int_buurt__adresreeksen') }}

),

herhalingen as (

    select
        gemeente_code,
        jaar,
        adres_pseudoniem
    from reeksen
    where dagen_sinds_vorige <= 365

),

niveaus as (

    select
        gemeente_code,
        jaar,
        adres_pseudoniem
    from herhalingen
    union all
    select
        'NL' as gemeente_code,
        jaar,
        adres_pseudoniem
    from herhalingen

),

final as (

    select
        gemeente_code,
        jaar,
        cast(count(distinct adres_pseudoniem) as integer) as adressen_herhaald_365,
        cast(count(*) as integer) as herhalingen_365
    from niveaus
    group by gemeente_code, jaar

)

select * from final
