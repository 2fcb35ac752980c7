-- The open data publishes the marts' figures, complete: every municipality and month of target_progress_maandelijks
-- is there, every published count equals the mart's, and the national year equals target_progress (niveau land).
with

gm as (

    select * from {{ ref('open_data__aanslagen_per_gemeente_maand') }}

),

maanden as (

    select code as gemeente_code, jaar, maand, aanslagen
    from {{ ref('target_progress_maandelijks') }}
    where niveau = 'gemeente'

),

land_maanden as (

    select jaar, maand, aanslagen
    from {{ ref('target_progress_maandelijks') }}
    where niveau = 'land'

),

jaren as (

    select niveau, code, jaar, aanslagen
    from {{ ref('target_progress') }}
    where niveau in ('land', 'gemeente')

),

verschillen as (

    select 'gemeente_maand' as tabel, coalesce(o.gemeente_code, m.gemeente_code) as code,
        coalesce(o.jaar, m.jaar) as jaar, coalesce(o.maand, m.maand) as maand
    from gm as o
    full outer join maanden as m
        on m.gemeente_code = o.gemeente_code and m.jaar = o.jaar and m.maand = o.maand
    where o.gemeente_code is null or m.gemeente_code is null or o.aanslagen <> m.aanslagen

    union all

    select 'gemeente_jaar', o.gemeente_code, o.jaar, null
    from {{ ref('open_data__aanslagen_per_gemeente_jaar') }} as o
    inner join jaren as j
        on j.niveau = 'gemeente' and j.code = o.gemeente_code and j.jaar = o.jaar
    where o.aanslagen <> j.aanslagen

    union all

    select 'land_maand', 'NL', o.jaar, o.maand
    from {{ ref('open_data__aanslagen_landelijk_maand') }} as o
    full outer join land_maanden as l
        on l.jaar = o.jaar and l.maand = o.maand
    where o.jaar is null or l.jaar is null or o.aanslagen <> l.aanslagen

    union all

    select 'land_jaar', 'NL', o.jaar, null
    from {{ ref('open_data__aanslagen_landelijk_jaar') }} as o
    inner join jaren as j
        on j.niveau = 'land' and j.jaar = o.jaar
    where o.aanslagen <> j.aanslagen

)

select * from verschillen
