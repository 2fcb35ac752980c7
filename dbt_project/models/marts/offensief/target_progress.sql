-- Progress on the Offensief's target metric, per reporting level, code and year: one row per
-- (niveau, code, jaar) for every year from the first to the last year with counted incidents, with zeros
-- where a municipality had none, so that country = sum of municipalities = sum of police units
-- = G4 + G40 + overig.
--
--   aanslagen        counted incidents (telt_mee and not withdrawn, any uitkomst) by year of incident_datum,
--                    as known in the newest police delivery;
--   doel             for every year with a target in seeds/doelen.csv: the largest whole number that meets the
--                    rule, max_aanslagen or floor(count of basisjaar x max_pct_van_basis / 100) in exact decimal
--                    arithmetic (2025: floor(1543 x 90 / 100) = 1388); a unit's own row wins over the year's
--                    rule, which below the country is always assumed (doel_aangenomen); null without a target;
--   year to date     the year up to ytd_tot_datum (the newest peildatum, or 31 December for a past year),
--                    against the same days of the previous year.
with

dagen as (

    select
        gemeente_code,
        jaar,
        incident_datum,
        aanslagen
    from {{ ref('int_politie__aanslagen_per_dag') }}
    where aanslagen > 0

),

niveaus as (

    select * from {{ ref('int_gemeenten__niveaus') }}

),

peil as (

    select max(peildatum) as peildatum from {{ ref('int_politie__leveringen') }}

),

jaargrenzen as (

    select
        min(jaar) as eerste_jaar,
        max(jaar) as laatste_jaar
    from dagen

),

jaren as (

    select
        cast(j.jaar as integer) as jaar,
        j.jaar = g.eerste_jaar as is_eerste_jaar,
        least(p.peildatum, make_date(cast(j.jaar as integer), 12, 31)) as ytd_tot_datum,
        -- the same period one year earlier: the previous year's year-to-date runs up to this day
        cast(least(p.peildatum, make_date(cast(j.jaar as integer), 12, 31)) - interval '1 year' as date)
            as ytd_vorig_jaar_tot_datum,
        p.peildatum
    from peil as p
    cross join jaargrenzen as g
    cross join generate_series(g.eerste_jaar, g.laatste_jaar) as j (jaar)

),

-- one pass over the days: per municipality code and year the count, the year to date, and the part that
-- falls in the next year's "same period of the previous year"
per_code_jaar as (

    select
        d.gemeente_code,
        d.jaar,
        sum(d.aanslagen) as aanslagen,
        sum(d.aanslagen) filter (where d.incident_datum <= j.ytd_tot_datum) as aanslagen_ytd,
        sum(d.aanslagen) filter (where d.incident_datum <= volgend.ytd_vorig_jaar_tot_datum)
            as aanslagen_ytd_voor_volgend_jaar
    from dagen as d
    inner join jaren as j
        on d.jaar = j.jaar
    left join jaren as volgend
        on volgend.jaar = d.jaar + 1
    group by d.gemeente_code, d.jaar

),

-- a code the reference data does not know only reaches `land`
brug as (

    select
        gemeente_code,
        niveau,
        code,
        naam,
        inwoners,
        inwoners_peiljaar
    from niveaus

    union all

    select distinct
        gemeente_code,
        'land',
        'NL',
        'Nederland',
        cast(0 as integer),
        cast(null as integer)
    from per_code_jaar
    where gemeente_code not in (select n.gemeente_code from niveaus as n)

),

inwoners as (

    select
        niveau,
        code,
        naam,
        sum(inwoners) as inwoners,
        max(inwoners_peiljaar) as inwoners_peiljaar
    from brug
    group by niveau, code, naam

),

tellingen as (

    select
        b.niveau,
        b.code,
        j.jaar,
        sum(p.aanslagen) filter (where p.jaar = j.jaar) as aanslagen,
        sum(p.aanslagen) filter (where p.jaar = j.jaar - 1) as aanslagen_vorig_jaar,
        sum(p.aanslagen_ytd) filter (where p.jaar = j.jaar) as aanslagen_ytd,
        sum(p.aanslagen_ytd_voor_volgend_jaar) filter (where p.jaar = j.jaar - 1) as aanslagen_ytd_vorig_jaar
    from per_code_jaar as p
    inner join jaren as j
        on p.jaar in (j.jaar, j.jaar - 1)
    inner join brug as b
        on p.gemeente_code = b.gemeente_code
    group by b.niveau, b.code, j.jaar

),

raster as (

    select
        i.niveau,
        i.code,
        i.naam,
        i.inwoners,
        i.inwoners_peiljaar,
        j.jaar,
        j.is_eerste_jaar,
        j.ytd_tot_datum,
        j.peildatum,
        cast(coalesce(t.aanslagen, 0) as integer) as aanslagen,
        -- the first year has no previous year in the data
        case when not j.is_eerste_jaar then cast(coalesce(t.aanslagen_vorig_jaar, 0) as integer) end
            as aanslagen_vorig_jaar,
        cast(coalesce(t.aanslagen_ytd, 0) as integer) as aanslagen_ytd,
        case when not j.is_eerste_jaar then cast(coalesce(t.aanslagen_ytd_vorig_jaar, 0) as integer) end
            as aanslagen_ytd_vorig_jaar
    from inwoners as i
    cross join jaren as j
    left join tellingen as t
        on
            i.niveau = t.niveau
            and i.code = t.code
            and j.jaar = t.jaar

),

regels as (

    select * from {{ ref('int_doelen__regels') }}

),

met_doel as (

    select
        r.*,
        {{ doel_uit_regel('g', 'b.aanslagen') }} as doel,
        g.basisjaar as doel_basisjaar,
        g.bron as doel_bron,
        g.is_aangenomen as doel_aangenomen
    from raster as r
    left join regels as g
        on
            r.niveau = g.niveau
            and r.code = g.code
            and r.jaar = g.jaar
    -- the base is the warehouse's own count of the base year for the same unit
    left join raster as b
        on
            r.niveau = b.niveau
            and r.code = b.code
            and g.basisjaar = b.jaar

),

final as (

    select
        niveau,
        code,
        naam,
        jaar,
        aanslagen,
        aanslagen_vorig_jaar,
        cast(
            round(100.0 * (aanslagen - aanslagen_vorig_jaar) / nullif(aanslagen_vorig_jaar, 0), 1)
            as numeric(8, 1)
        ) as verandering_pct,
        doel,
        case when doel is not null then aanslagen <= doel end as doel_gehaald,
        case when doel is not null then doel_aangenomen end as doel_aangenomen,
        case when doel is not null then doel_bron end as doel_bron,
        case when doel is not null then doel_basisjaar end as doel_basisjaar,
        cast(inwoners as integer) as inwoners,
        cast(inwoners_peiljaar as integer) as inwoners_peiljaar,
        cast(round(aanslagen * 100000.0 / nullif(inwoners, 0), 2) as numeric(10, 2)) as aanslagen_per_100k,
        ytd_tot_datum,
        aanslagen_ytd,
        aanslagen_ytd_vorig_jaar,
        cast(
            round(100.0 * (aanslagen_ytd - aanslagen_ytd_vorig_jaar) / nullif(aanslagen_ytd_vorig_jaar, 0), 1)
            as numeric(8, 1)
        ) as verandering_ytd_pct,
        peildatum >= make_date(jaar, 12, 31) as jaar_compleet,
        peildatum
    from met_doel

)

select * from final
