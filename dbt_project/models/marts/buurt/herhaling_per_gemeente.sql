-- Repeat attacks per municipality of today and calendar year, plus national rows (gemeente_code 'NL'), over
-- counted incidents only (the target's definition). Addresses are lower-case pseudonyms; an incident without a
-- pseudonym counts in no address figure but in zonder_pseudoniem.
with

aanslagen as (

    select
        gemeente_code,
        jaar,
        adres_pseudoniem
    from {{ ref('int_buurt__aanslagen') }}

),

niveaus as (

    select
        gemeente_code,
        jaar,
        adres_pseudoniem
    from aanslagen
    union all
    select
        'NL' as gemeente_code,
        jaar,
        adres_pseudoniem
    from aanslagen

),

per_adres as (

    select
        gemeente_code,
        jaar,
        adres_pseudoniem,
        count(*) as aanslagen
    from niveaus
    where adres_pseudoniem is not null
    group by gemeente_code, jaar, adres_pseudoniem

),

adressen as (

    select
        gemeente_code,
        jaar,
        count(*) as adressen,
        count(*) filter (where aanslagen >= 2) as adressen_herhaald,
        coalesce(sum(aanslagen) filter (where aanslagen >= 2), 0) as aanslagen_herhaald
    from per_adres
    group by gemeente_code, jaar

),

totalen as (

    select
        gemeente_code,
        jaar,
        count(*) as aanslagen,
        count(*) filter (where adres_pseudoniem is null) as zonder_pseudoniem
    from niveaus
    group by gemeente_code, jaar

),

final as (

    select
        t.gemeente_code,
        t.jaar,
        cast(t.aanslagen as integer) as aanslagen,
        cast(coalesce(a.adressen, 0) as integer) as adressen,
        cast(coalesce(a.adressen_herhaald, 0) as integer) as adressen_herhaald,
        cast(coalesce(a.aanslagen_herhaald, 0) as integer) as aanslagen_herhaald,
        cast(t.zonder_pseudoniem as integer) as zonder_pseudoniem
    from totalen as t
    left join adressen as a
        on
            t.gemeente_code = a.gemeente_code
            and t.jaar = a.jaar

)

select * from final
