-- Small-cell suppression for the open data (models/open_data/): every count the open data publishes, with its true
-- value and whether it is suppressed. Not published itself: it holds the true values. It reads the fixed years
-- (int_open_data__vastgestelde_jaren), which never change, so every release repeats the same counts and the same
-- suppression for a year, and holding all releases tells an outsider no more than holding one.
--
-- What is published, per year y (and nothing else, so these are all the sums an outsider can combine):
--   A(g, m)  gemeente_maand  counted incidents per municipality of today g and month m
--   B(g)     gemeente_jaar   per municipality and year   B(g) = sum over m of A(g, m)
--   D(m)     land_maand      national per month          D(m) = sum over g of A(g, m)
--   E        land_jaar       national per year           E = sum over g of B(g) = sum over m of D(m)
-- Police units are not published in the open data: their totals would add one more sum per unit and force far more
-- suppression (the partners read them in marts).
--
-- Zeros are published and never suppressed ("no incident" discloses nothing about a person, and users must tell
-- "none" from "suppressed"). An outsider therefore knows that every suppressed cell is at least 1, and the rules
-- protect against that knowledge, not only against subtracting one line.
--
-- Primary suppression: every municipality-level count (A and B) from 1 to 4.
--
-- The speling of a set of suppressed cells is the sum of (value - 1): how far they can move down together while
-- each stays at least 1. A speling of 2 is what lets every suppressed count take at least three values.
--
-- Secondary suppression. A row g is "open" when B(g) is suppressed and "closed" when it is published. The pool of
-- month m is the set of suppressed cells A(g, m) in open rows. Starting from the primary cells, these conditions
-- are enforced, one cell at a time per violated condition, until all hold (the recursive CTE `stappen`):
--   V1 closed row   a closed row with a suppressed cell has at least two, with a speling of at least 2.
--                   Fix: suppress the row's smallest published non-zero cell (published non-zero cells are at least
--                   5); if there is none, open the row.
--   V2 month        a month with a suppressed cell and a published D(m) has a pool of at least two cells with a
--                   speling of at least 2. Fix, in this order: suppress a published cell of an open row in that
--                   month; open a closed row whose cell in that month is suppressed (the smallest B first); suppress a
--                   published cell of a closed row in that month (V1 then opens it); each at least 2 when the pool
--                   lacks speling. If no cell qualifies, suppress D(m).
--   V3 national     when some D(m) are suppressed and E is published: at least two D(m) are, each of those months
--                   has a pool, and their pools together have a speling of at least 2. Fix: a pool member as in V2,
--                   or suppress D of the month with the smallest D among those with a valid pool; else suppress E.
--   V4 last resort  when E is suppressed, every row with a suppressed cell is open and every month with a suppressed
--                   cell has D(m) suppressed.
-- Every step only adds cells and every violated condition has a cell to add (its last fix always exists), so the
-- iteration ends, with all four conditions holding.
--
-- Why no suppressed value can then be derived, even combining every published sum and knowing that suppressed cells
-- are at least 1: for each suppressed cell there are other tables, equal to the published one wherever a value is
-- published, consistent with every sum, with all suppressed cells at least 1, in which that cell differs by 1 and
-- by 2 (the speling of 2 in its row and its month's pool lets the partners below move by 2 together, spread over
-- one or two of them), so it keeps at least three possible values. For a move by 1:
--   open-row cell A(g, m), D(m) published: take another pool cell A(g', m) (V2), one of at least 2 if A(g, m) is 1:
--     A(g, m) ± 1, A(g', m) ∓ 1, B(g) ± 1, B(g') ∓ 1 (the row or month sums and E are unchanged);
--   closed-row cell A(g, m): take another suppressed cell A(g, m') of its row (V1; one of at least 2 if A(g, m) is
--     1) and pool cells A(h, m), A(h', m') of the two months (V2), with the one that goes down at least 2:
--     A(g, m) ± 1, A(g, m') ∓ 1, A(h, m) ∓ 1, A(h', m') ± 1, B(h) ∓ 1, B(h') ± 1;
--   months with a suppressed D(m) act as one month through E (V3): D(m) ± 1 and D(m') ∓ 1 join the moves above;
--   when E is suppressed (V4): A(g, m) + 1, B(g) + 1, D(m) + 1, E + 1;
--   a suppressed B(g) or D(m) changes with the cells above (V2, V3 and V4 never leave one without a suppressed cell).
-- tests/test_open_data.py checks this on the sample publication over all sums at once, with an exact search for such
-- tables (cycles in the flow network the sums form) and with linear programming (at least three values per
-- suppressed count, also over all releases of a replayed delivery sequence together); the singular tests
-- tests/open_data/assert_open_data_* check the conditions and the one-sum rule on every build.
with

maanden as (

    select
        code as gemeente_code,
        jaar,
        maand,
        aanslagen,
        peildatum
    from {{ ref('int_open_data__vastgestelde_jaren') }}
    where niveau = 'gemeente'

),

-- every published count, in four kinds; the ids are unique over all kinds
a_cellen as materialized (

    select
        cast(row_number() over (order by gemeente_code, jaar, maand) as integer) as cel_id,
        gemeente_code,
        cast(jaar as integer) as jaar,
        cast(maand as integer) as maand,
        cast(aanslagen as integer) as waarde
    from maanden

),

b_cellen as materialized (

    select
        cast(10000000 + row_number() over (order by gemeente_code, jaar) as integer) as cel_id,
        gemeente_code,
        jaar,
        cast(sum(waarde) as integer) as waarde
    from a_cellen
    group by gemeente_code, jaar

),

d_cellen as materialized (

    select
        cast(20000000 + row_number() over (order by jaar, maand) as integer) as cel_id,
        jaar,
        maand,
        cast(sum(waarde) as integer) as waarde
    from a_cellen
    group by jaar, maand

),

e_cellen as materialized (

    select
        cast(30000000 + row_number() over (order by jaar) as integer) as cel_id,
        jaar,
        cast(sum(waarde) as integer) as waarde
    from a_cellen
    group by jaar

),

cellen as (

    select
        cel_id,
        'gemeente_maand' as tabel,
        gemeente_code,
        jaar,
        maand,
        waarde
    from a_cellen
    union all
    select
        cel_id,
        'gemeente_jaar',
        gemeente_code,
        jaar,
        0,
        waarde
    from b_cellen
    union all
    select
        cel_id,
        'land_maand',
        null,
        jaar,
        maand,
        waarde
    from d_cellen
    union all
    select
        cel_id,
        'land_jaar',
        null,
        jaar,
        0,
        waarde
    from e_cellen

),

-- primary suppression: municipality-level counts from 1 to 4
primair as (

    select cel_id from a_cellen
    where waarde between 1 and 4
    union all
    select cel_id from b_cellen
    where waarde between 1 and 4

),

-- every month cell with the ids of its row total, month total and year total
maandcellen as materialized (

    select
        a.cel_id,
        a.gemeente_code,
        a.jaar,
        a.maand,
        a.waarde,
        b.cel_id as b_id,
        b.waarde as b_waarde,
        d.cel_id as d_id,
        d.waarde as d_waarde,
        e.cel_id as e_id
    from a_cellen as a
    inner join b_cellen as b
        on a.gemeente_code = b.gemeente_code and a.jaar = b.jaar
    inner join d_cellen as d
        on a.jaar = d.jaar and a.maand = d.maand
    inner join e_cellen as e
        on a.jaar = e.jaar

),

-- the iteration: one row per step with the ids of all suppressed cells, until every condition holds
stappen as (

    with recursive stap (nummer, ids) as (

        select
            0,
            array(
                select cel_id from primair
                order by cel_id
            )

        union all

        select
            s.nummer + 1,
            volgende.ids
        from stap as s
        cross join
            lateral (

                with onderdrukt as (

                    select distinct unnest(s.ids) as cel_id

                ),

                stand as (

                    select
                        c.*,
                        oa.cel_id is not null as a_weg,
                        ob.cel_id is not null as rij_open,
                        od.cel_id is not null as d_weg,
                        oe.cel_id is not null as e_weg
                    from maandcellen as c
                    -- (ST09: sqlfluff reads the lateral query's scope wrongly; c is the earlier table)
                    left join onderdrukt as oa on c.cel_id = oa.cel_id  -- noqa: ST09
                    left join onderdrukt as ob on c.b_id = ob.cel_id
                    left join onderdrukt as od on c.d_id = od.cel_id
                    left join onderdrukt as oe on c.e_id = oe.cel_id

                ),

                rijen as (

                    select
                        b_id,
                        bool_or(rij_open) as rij_open,
                        bool_or(e_weg) as e_weg,
                        count(*) filter (where a_weg) as k,
                        coalesce(sum(waarde - 1) filter (where a_weg), 0) as speling
                    from stand
                    group by b_id

                ),

                kolommen as (

                    select
                        d_id,
                        d_waarde,
                        jaar,
                        e_id,
                        bool_or(d_weg) as d_weg,
                        bool_or(e_weg) as e_weg,
                        count(*) filter (where a_weg) as k,
                        count(*) filter (where a_weg and rij_open) as pool,
                        coalesce(sum(waarde - 1) filter (where a_weg and rij_open), 0) as pool_speling
                    from stand
                    group by d_id, d_waarde, jaar, e_id

                ),

                jaren as (

                    select
                        e_id,
                        jaar,
                        bool_or(e_weg) as e_weg,
                        count(*) filter (where d_weg) as maanden_weg,
                        coalesce(sum(pool_speling) filter (where d_weg), 0) as pool_speling,
                        bool_or(d_weg and pool = 0) as lege_pool
                    from kolommen
                    group by e_id, jaar

                ),

                -- V1: a closed row with one suppressed cell, or only ones
                v1 as (

                    select
                        b_id,
                        speling < 2 as groot_nodig
                    from rijen
                    where not rij_open and k >= 1 and (k = 1 or speling < 2)

                ),

                v1_keuze as (

                    select distinct on (b_id) kandidaat
                    from (
                        select
                            v.b_id,
                            1 as rang,
                            c.waarde as volgorde,
                            c.cel_id as kandidaat
                        from v1 as v
                        inner join stand as c
                            on v.b_id = c.b_id
                        where
                            not c.a_weg
                            and c.waarde >= case when v.groot_nodig then 2 else 1 end
                        union all
                        select
                            b_id,
                            2,
                            0,
                            b_id
                        from v1
                    ) as k
                    order by b_id, rang, volgorde, kandidaat

                ),

                -- V2: a month whose pool is too small (published D); also a suppressed D(m) whose month has no pool
                v2 as (

                    select
                        d_id,
                        e_id,
                        pool_speling < 2 and not d_weg as groot_nodig,
                        d_weg
                    from kolommen
                    where
                        not e_weg
                        and k >= 1
                        and ((not d_weg and (pool < 2 or pool_speling < 2)) or (d_weg and pool = 0))

                ),

                v2_keuze as (

                    select distinct on (d_id) kandidaat
                    from (
                    -- a published cell of an open row
                        select
                            v.d_id,
                            1 as rang,
                            c.waarde as volgorde,
                            c.cel_id as kandidaat
                        from v2 as v
                        inner join stand as c
                            on v.d_id = c.d_id
                        where
                            c.rij_open and not c.a_weg
                            and c.waarde >= case when v.groot_nodig then 2 else 1 end
                        union all
                        -- open a closed row whose cell is suppressed
                        select
                            v.d_id,
                            2,
                            c.b_waarde,
                            c.b_id
                        from v2 as v
                        inner join stand as c
                            on v.d_id = c.d_id
                        where
                            not c.rij_open and c.a_weg
                            and c.waarde >= case when v.groot_nodig then 2 else 1 end
                        union all
                        -- a published cell of a closed row
                        select
                            v.d_id,
                            3,
                            c.waarde,
                            c.cel_id
                        from v2 as v
                        inner join stand as c
                            on v.d_id = c.d_id
                        where
                            not c.rij_open and not c.a_weg
                            and c.waarde >= case when v.groot_nodig then 2 else 1 end
                        union all
                        -- the month total, or, for a month whose total is already suppressed, the year total
                        select
                            d_id,
                            4,
                            0,
                            case when d_weg then e_id else d_id end
                        from v2
                    ) as k
                    order by d_id, rang, volgorde, kandidaat

                ),

                -- V3: suppressed month totals need a partner month, and a cell of at least 2 among their pools
                v3 as (

                    select
                        j.e_id,
                        j.jaar
                    from jaren as j
                    where
                        not j.e_weg
                        and j.maanden_weg >= 1
                        and not j.lege_pool
                        and (j.maanden_weg < 2 or j.pool_speling < 2)

                ),

                v3_keuze as (

                    select distinct on (e_id) kandidaat
                    from (
                        select
                            v.e_id,
                            1 as rang,
                            kk.d_waarde as volgorde,
                            kk.d_id as kandidaat
                        from v3 as v
                        inner join kolommen as kk
                            on v.e_id = kk.e_id
                        where not kk.d_weg and kk.pool >= 2 and kk.pool_speling >= 2
                        union all
                        select
                            e_id,
                            2,
                            0,
                            e_id
                        from v3
                    ) as k
                    order by e_id, rang, volgorde, kandidaat

                ),

                -- V4: with E suppressed, every row with a suppressed cell is open and every such month's D suppressed
                v4_keuze as (

                    select b_id as kandidaat from rijen
                    where e_weg and k >= 1 and not rij_open
                    union
                    select d_id from kolommen
                    where e_weg and k >= 1 and not d_weg

                )

                select array(
                    select cel_id from onderdrukt
                    union
                    select kandidaat from v1_keuze
                    union
                    select kandidaat from v2_keuze
                    union
                    select kandidaat from v3_keuze
                    union
                    select kandidaat from v4_keuze
                    order by 1
                ) as ids

            ) as volgende
        where cardinality(volgende.ids) > cardinality(s.ids)

    )

    select
        nummer,
        ids
    from stap

),

-- the step in which each cell was suppressed (0 = primary)
onderdrukt_in as (

    select
        u.cel_id,
        min(s.nummer) as stap
    from stappen as s
    cross join lateral unnest(s.ids) as u (cel_id)
    group by u.cel_id

),

peil as (

    select max(peildatum) as peildatum from maanden

),

final as (

    select
        c.tabel,
        c.gemeente_code,
        c.jaar,
        nullif(c.maand, 0) as maand,
        c.waarde as aanslagen,
        o.cel_id is not null as onderdrukt,
        case
            when o.stap = 0 then 'primair'
            when o.cel_id is not null then 'secundair'
        end as onderdrukking,
        cast(o.stap as integer) as onderdrukt_in_stap,
        p.peildatum
    from cellen as c
    cross join peil as p
    left join onderdrukt_in as o
        on c.cel_id = o.cel_id

)

select * from final
