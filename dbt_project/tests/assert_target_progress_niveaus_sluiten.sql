-- Every level adds up to the country, per year: sum of municipalities, of police units, and of G4 + G40 +
-- overig all equal the national count (for aanslagen, the previous year and the year-to-date figures).
with

tp as (

    select * from {{ ref('target_progress') }}

),

per_niveau as (

    select
        case when niveau in ('g4', 'g40', 'overig') then 'groepen' else niveau end as niveau,
        jaar,
        sum(aanslagen) as aanslagen,
        sum(coalesce(aanslagen_vorig_jaar, -1)) as aanslagen_vorig_jaar,
        sum(aanslagen_ytd) as aanslagen_ytd,
        sum(inwoners) as inwoners
    from tp
    group by 1, 2

),

land as (

    select * from per_niveau
    where niveau = 'land'

)

select
    p.*,
    l.aanslagen as land_aanslagen
from per_niveau as p
inner join land as l
    on p.jaar = l.jaar
where
    p.niveau <> 'land'
    and (
        p.aanslagen <> l.aanslagen
        or p.aanslagen_ytd <> l.aanslagen_ytd
        or p.inwoners <> l.inwoners
        or (l.aanslagen_vorig_jaar >= 0 and p.aanslagen_vorig_jaar <> l.aanslagen_vorig_jaar)
    )
