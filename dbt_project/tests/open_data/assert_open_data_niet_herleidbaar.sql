-- The published open data only, as an outsider sees it: no published sum gives a suppressed count away.
-- For every sum (a municipality's year = its months; the country's month = its municipalities; the country's year =
-- its municipalities = its months), knowing that zeros are published and so every suppressed count is at least its
-- lower bound (1 for a month cell; for a suppressed total, its published parts plus 1 per suppressed part):
--   a suppressed total has at least one suppressed part (else it is their sum);
--   a published total has no suppressed part, or at least two whose sum (total − published parts) exceeds the sum
--   of their lower bounds by at least 2, so that each of them can take at least three values within this sum.
-- Returns the sums that break this. tests/test_open_data.py checks all sums together.
with

gm as (

    select * from {{ ref('open_data__aanslagen_per_gemeente_maand') }}

),

gj as (

    select * from {{ ref('open_data__aanslagen_per_gemeente_jaar') }}

),

lm as (

    select * from {{ ref('open_data__aanslagen_landelijk_maand') }}

),

lj as (

    select * from {{ ref('open_data__aanslagen_landelijk_jaar') }}

),

rij_ondergrens as (

    select
        gemeente_code,
        jaar,
        coalesce(sum(aanslagen), 0) + count(*) filter (where onderdrukt) as ondergrens
    from gm
    group by gemeente_code, jaar

),

maand_ondergrens as (

    select
        jaar,
        maand,
        coalesce(sum(aanslagen), 0) + count(*) filter (where onderdrukt) as ondergrens
    from gm
    group by jaar, maand

),

sommen as (

    select
        'gemeente_jaar' as som,
        j.gemeente_code || ' ' || j.jaar as sleutel,
        j.aanslagen as totaal,
        count(*) filter (where m.onderdrukt) as onderdrukte_delen,
        coalesce(sum(m.aanslagen), 0) as gepubliceerde_delen,
        count(*) filter (where m.onderdrukt) as ondergrens_onderdrukte_delen
    from gj as j
    inner join gm as m
        on j.gemeente_code = m.gemeente_code and j.jaar = m.jaar
    group by j.gemeente_code, j.jaar, j.aanslagen

    union all

    select
        'land_maand',
        l.jaar || '-' || l.maand,
        l.aanslagen,
        count(*) filter (where m.onderdrukt),
        coalesce(sum(m.aanslagen), 0),
        count(*) filter (where m.onderdrukt)
    from lm as l
    inner join gm as m
        on l.jaar = m.jaar and l.maand = m.maand
    group by l.jaar, l.maand, l.aanslagen

    union all

    select
        'land_jaar_gemeenten',
        cast(y.jaar as text),
        y.aanslagen,
        count(*) filter (where j.onderdrukt),
        coalesce(sum(j.aanslagen), 0),
        coalesce(sum(r.ondergrens) filter (where j.onderdrukt), 0)
    from lj as y
    inner join gj as j
        on y.jaar = j.jaar
    inner join rij_ondergrens as r
        on j.gemeente_code = r.gemeente_code and j.jaar = r.jaar
    group by y.jaar, y.aanslagen

    union all

    select
        'land_jaar_maanden',
        cast(y.jaar as text),
        y.aanslagen,
        count(*) filter (where l.onderdrukt),
        coalesce(sum(l.aanslagen), 0),
        coalesce(sum(o.ondergrens) filter (where l.onderdrukt), 0)
    from lj as y
    inner join lm as l
        on y.jaar = l.jaar
    inner join maand_ondergrens as o
        on l.jaar = o.jaar and l.maand = o.maand
    group by y.jaar, y.aanslagen

)

select *
from sommen
where
    (totaal is null and onderdrukte_delen = 0)
    or (totaal is not null and onderdrukte_delen = 0 and totaal <> gepubliceerde_delen)
    or (totaal is not null and onderdrukte_delen = 1)
    or (
        totaal is not null and onderdrukte_delen >= 2
        and totaal - gepubliceerde_delen < ondergrens_onderdrukte_delen + 2
    )
