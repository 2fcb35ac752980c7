-- What we knew when, per month and reporting unit: counted incidents per (niveau, code, jaar, maand) as known at
-- each police peildatum. The country has every year; the other levels only the year of the peildatum and the
-- two years before (what doel_stand and the forecast of doel_prognose need), so the table stays small as
-- deliveries accumulate.
-- Only months with a counted incident have a row. The analysis run fits the forecast and the revisions on it.
with

standen as (

    select * from {{ ref('int_politie__maandstanden') }}

),

niveaus as (

    select * from {{ ref('int_gemeenten__niveaus') }}

),

-- a code the reference data does not know only reaches `land`
brug as (

    select
        gemeente_code,
        niveau,
        code
    from niveaus

    union all

    select distinct
        gemeente_code,
        'land',
        'NL'
    from standen
    where gemeente_code not in (select n.gemeente_code from niveaus as n)

),

final as (

    select
        s.peildatum,
        b.niveau,
        b.code,
        s.jaar,
        s.maand,
        cast(sum(s.aanslagen) as integer) as aanslagen
    from standen as s
    inner join brug as b
        on s.gemeente_code = b.gemeente_code
    where
        b.niveau = 'land'
        or s.jaar >= cast(extract(year from s.peildatum) as integer) - 2
    group by s.peildatum, b.niveau, b.code, s.jaar, s.maand

)

select * from final
