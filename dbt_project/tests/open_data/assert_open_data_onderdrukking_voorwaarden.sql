-- The conditions the suppression rule guarantees (int_open_data__onderdrukking, V1-V4), checked on its result: from
-- them follows, for every suppressed count, another table consistent with everything published in which that count
-- differs by 1 and by 2 (three values). The speling of a set of suppressed counts is the sum of (count - 1):
-- how far they can move down together. Also: every municipality-level count from 1 to 4 is suppressed, no zero
-- is, and no suppressed total has all its parts published. Returns one row per violation.
with

cellen as (

    select * from {{ ref('int_open_data__onderdrukking') }}

),

-- every month cell with the state of its year total, month total and national total (windows, not joins: one pass)
stand as (

    select *
    from (
        select
            tabel,
            gemeente_code,
            jaar,
            maand,
            aanslagen,
            onderdrukt as a_weg,
            bool_or(onderdrukt) filter (where tabel = 'gemeente_jaar') over (partition by jaar, gemeente_code)
                as rij_open,
            bool_or(onderdrukt) filter (where tabel = 'land_maand') over (partition by jaar, maand) as d_weg,
            bool_or(onderdrukt) filter (where tabel = 'land_jaar') over (partition by jaar) as e_weg
        from cellen
    ) as s
    where tabel = 'gemeente_maand'

),

rijen as (

    select
        gemeente_code,
        jaar,
        bool_or(rij_open) as rij_open,
        bool_or(e_weg) as e_weg,
        count(*) filter (where a_weg) as k,
        coalesce(sum(aanslagen - 1) filter (where a_weg), 0) as speling
    from stand
    group by gemeente_code, jaar

),

kolommen as (

    select
        jaar,
        maand,
        bool_or(d_weg) as d_weg,
        bool_or(e_weg) as e_weg,
        count(*) filter (where a_weg) as k,
        count(*) filter (where a_weg and rij_open) as pool,
        coalesce(sum(aanslagen - 1) filter (where a_weg and rij_open), 0) as pool_speling
    from stand
    group by jaar, maand

),

jaren as (

    select
        jaar,
        bool_or(e_weg) as e_weg,
        count(*) filter (where d_weg) as maanden_weg,
        coalesce(sum(pool_speling) filter (where d_weg), 0) as pool_speling
    from kolommen
    group by jaar

),

schendingen as (

    select
        'V1 gesloten rij' as voorwaarde,
        gemeente_code || ' ' || jaar as sleutel
    from rijen
    where not rij_open and k >= 1 and (k = 1 or speling < 2)

    union all

    select
        'open rij zonder onderdrukte maand',
        gemeente_code || ' ' || jaar
    from rijen
    where rij_open and k = 0

    union all

    select
        'V2 maand',
        jaar || '-' || maand
    from kolommen
    where not e_weg and k >= 1 and not d_weg and (pool < 2 or pool_speling < 2)

    union all

    select
        'V2 onderdrukte maand zonder pool',
        jaar || '-' || maand
    from kolommen
    where not e_weg and d_weg and pool = 0

    union all

    select
        'V3 landelijk',
        cast(jaar as text)
    from jaren
    where not e_weg and maanden_weg >= 1 and (maanden_weg < 2 or pool_speling < 2)

    union all

    select
        'V4 rij',
        gemeente_code || ' ' || jaar
    from rijen
    where e_weg and k >= 1 and not rij_open

    union all

    select
        'V4 maand',
        jaar || '-' || maand
    from kolommen
    where e_weg and k >= 1 and not d_weg

    union all

    select
        'kleine aantal gepubliceerd',
        tabel || ' ' || coalesce(gemeente_code, 'NL') || ' ' || jaar || '-' || coalesce(maand, 0)
    from cellen
    where tabel in ('gemeente_maand', 'gemeente_jaar') and aanslagen between 1 and 4 and not onderdrukt

    union all

    select
        'nul onderdrukt',
        tabel || ' ' || coalesce(gemeente_code, 'NL') || ' ' || jaar || '-' || coalesce(maand, 0)
    from cellen
    where aanslagen = 0 and onderdrukt

)

select * from schendingen
