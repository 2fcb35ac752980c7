-- The target metric per month, for charts: one row per (niveau, code, jaar, maand) from January of the
-- first year with counted incidents up to the month of the newest police peildatum, zeros included.
-- Same levels and codes as target_progress; `aanslagen_cumulatief` runs from January of the year.
with

-- one pass over the days: counts per municipality code and month
per_code_maand as (

    select
        gemeente_code,
        jaar,
        maand,
        sum(aanslagen) as aanslagen,
        sum(afgegaan) as afgegaan,
        sum(pogingen) as pogingen,
        sum(aangetroffen) as aangetroffen,
        sum(doelwit_woning) as doelwit_woning
    from {{ ref('int_politie__aanslagen_per_dag') }}
    where aanslagen > 0
    group by gemeente_code, jaar, maand

),

niveaus as (

    select * from {{ ref('int_gemeenten__niveaus') }}

),

peil as (

    select max(peildatum) as peildatum from {{ ref('int_politie__leveringen') }}

),

maanden as (

    select
        cast(m.maand_start as date) as maand_start,
        cast(extract(year from m.maand_start) as integer) as jaar,
        cast(extract(month from m.maand_start) as integer) as maand,
        p.peildatum
    from peil as p
    cross join generate_series(
        (select make_date(min(jaar), 1, 1) from per_code_maand),
        (select date_trunc('month', max(peildatum)) from peil),
        interval '1 month'
    ) as m (maand_start)

),

-- a code the reference data does not know only reaches `land`
brug as (

    select
        gemeente_code,
        niveau,
        code,
        naam
    from niveaus

    union all

    select distinct
        gemeente_code,
        'land',
        'NL',
        'Nederland'
    from per_code_maand
    where gemeente_code not in (select n.gemeente_code from niveaus as n)

),

codes as (

    select distinct
        niveau,
        code,
        naam
    from brug

),

tellingen as (

    select
        b.niveau,
        b.code,
        p.jaar,
        p.maand,
        sum(p.aanslagen) as aanslagen,
        sum(p.afgegaan) as afgegaan,
        sum(p.pogingen) as pogingen,
        sum(p.aangetroffen) as aangetroffen,
        sum(p.doelwit_woning) as doelwit_woning
    from per_code_maand as p
    inner join brug as b
        on p.gemeente_code = b.gemeente_code
    group by b.niveau, b.code, p.jaar, p.maand

),

raster as (

    select
        c.niveau,
        c.code,
        c.naam,
        m.jaar,
        m.maand,
        m.maand_start,
        m.peildatum,
        cast(coalesce(t.aanslagen, 0) as integer) as aanslagen,
        cast(coalesce(t.afgegaan, 0) as integer) as afgegaan,
        cast(coalesce(t.pogingen, 0) as integer) as pogingen,
        cast(coalesce(t.aangetroffen, 0) as integer) as aangetroffen,
        cast(coalesce(t.doelwit_woning, 0) as integer) as doelwit_woning
    from codes as c
    cross join maanden as m
    left join tellingen as t
        on
            c.niveau = t.niveau
            and c.code = t.code
            and m.jaar = t.jaar
            and m.maand = t.maand

),

final as (

    select
        r.niveau,
        r.code,
        r.naam,
        r.jaar,
        r.maand,
        r.maand_start,
        r.aanslagen,
        r.afgegaan,
        r.pogingen,
        r.aangetroffen,
        r.doelwit_woning,
        cast(sum(r.aanslagen) over (
            partition by r.niveau, r.code, r.jaar order by r.maand
        ) as integer) as aanslagen_cumulatief,
        cast(v.aanslagen as integer) as aanslagen_zelfde_maand_vorig_jaar,
        r.peildatum >= cast(r.maand_start + interval '1 month' - interval '1 day' as date) as maand_compleet,
        r.peildatum
    from raster as r
    left join raster as v
        on
            r.niveau = v.niveau
            and r.code = v.code
            and v.jaar = r.jaar - 1
            and r.maand = v.maand

)

select * from final
