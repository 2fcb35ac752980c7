-- The open data publishes the fixed years (int_open_data__vastgestelde_jaren), complete and nothing else: every
-- municipality and month of a fixed year is there, every published count equals the fixed count, the year and
-- national figures are their sums, and no year that is not fixed appears.
with

vast as (

    select
        code as gemeente_code,
        jaar,
        maand,
        aanslagen
    from {{ ref('int_open_data__vastgestelde_jaren') }}

),

vast_gemeente_jaar as (

    select
        gemeente_code,
        jaar,
        sum(aanslagen) as aanslagen
    from vast
    group by gemeente_code, jaar

),

vast_land_maand as (

    select
        jaar,
        maand,
        sum(aanslagen) as aanslagen
    from vast
    group by jaar, maand

),

vast_land_jaar as (

    select
        jaar,
        sum(aanslagen) as aanslagen
    from vast
    group by jaar

),

gm as (

    select * from {{ ref('open_data__aanslagen_per_gemeente_maand') }}

),

verschillen as (

    select
        'gemeente_maand' as tabel,
        coalesce(o.gemeente_code, v.gemeente_code) as code,
        coalesce(o.jaar, v.jaar) as jaar,
        coalesce(o.maand, v.maand) as maand
    from gm as o
    full outer join vast as v
        on o.gemeente_code = v.gemeente_code and o.jaar = v.jaar and o.maand = v.maand
    where o.gemeente_code is null or v.gemeente_code is null or o.aanslagen <> v.aanslagen

    union all

    select
        'gemeente_jaar',
        coalesce(o.gemeente_code, v.gemeente_code),
        coalesce(o.jaar, v.jaar),
        null
    from {{ ref('open_data__aanslagen_per_gemeente_jaar') }} as o
    full outer join vast_gemeente_jaar as v
        on o.gemeente_code = v.gemeente_code and o.jaar = v.jaar
    where o.jaar is null or v.jaar is null or o.aanslagen <> v.aanslagen

    union all

    select
        'land_maand',
        'NL',
        coalesce(o.jaar, v.jaar),
        coalesce(o.maand, v.maand)
    from {{ ref('open_data__aanslagen_landelijk_maand') }} as o
    full outer join vast_land_maand as v
        on o.jaar = v.jaar and o.maand = v.maand
    where o.jaar is null or v.jaar is null or o.aanslagen <> v.aanslagen

    union all

    select
        'land_jaar',
        'NL',
        coalesce(o.jaar, v.jaar),
        null
    from {{ ref('open_data__aanslagen_landelijk_jaar') }} as o
    full outer join vast_land_jaar as v
        on o.jaar = v.jaar
    where o.jaar is null or v.jaar is null or o.aanslagen <> v.aanslagen

)

select * from verschillen
