-- The target in the running year, counted: per reporting unit, for the running year at the newest police
-- delivery and for each year as it stood at every police delivery of that year and of the year after (so the
-- forecast's track record can be replayed). Counts and arithmetic only; the forecast (verwacht_*) and the status
-- are added by the analysis run in doel_prognose, after the count is published.
--
--   maanden_compleet          whole months of jaar the delivery covers (12 once the year has ended);
--   aanslagen_tot_nu          months 1..maanden_compleet of jaar, as known at peildatum;
--   zelfde_periode_vorig_jaar the same months of jaar - 1, as known at peildatum;
--   vorig_jaar_zelfde_stand   the same months of jaar - 1, each as known at the newest delivery on or before
--                             peildatum - 1 year that covered it (like with like: counts are revised upward for
--                             months); where none did, at the first delivery that covered it;
--   doel                      from int_doelen__regels and the base year's count as known at peildatum;
--   nodig_per_maand           (doel - aanslagen_tot_nu) / (12 - maanden_compleet), not rounded.
with

peildata as (

    select distinct peildatum from {{ ref('int_politie__leveringen') }}

),

nieuwste as (

    select max(peildatum) as peildatum from peildata

),

maanden as (

    select * from {{ ref('aanslagen_per_maand_historie') }}

),

eenheden as (

    select distinct
        niveau,
        code,
        naam
    from {{ ref('int_gemeenten__niveaus') }}

),

standen as (

    select
        p.peildatum,
        cast(j.jaar as integer) as jaar,
        case
            when extract(year from p.peildatum) > j.jaar then 12
            -- complete months: the one before the peildatum's, or its own on its last day
            else
                cast(extract(month from p.peildatum) as integer) - 1
                + case
                    when p.peildatum = cast(date_trunc('month', p.peildatum) + interval '1 month - 1 day' as date)
                        then 1
                    else 0
                end
        end as maanden_compleet,
        p.peildatum = n.peildatum and j.jaar = extract(year from n.peildatum) as is_lopend_jaar
    from peildata as p
    cross join nieuwste as n
    cross join
        lateral (
            values (cast(extract(year from p.peildatum) as integer)),
            (cast(extract(year from p.peildatum) as integer) - 1)
        ) as j (jaar)
    -- a year without its previous year in the data has no comparison, except the running year: the analysis
    -- (and the report) always have one, te_weinig_gegevens while the history is too short
    where
        j.jaar > (
            select min(m.jaar) from maanden as m
            where m.niveau = 'land'
        )
        or (p.peildatum = n.peildatum and j.jaar = extract(year from n.peildatum))

),

-- per month of the previous year to compare: the delivery it is compared at. Materialized: inlined, the
-- planner evaluated the two lookups for every pair of month rows it joined (57 s on 5M incidents, not 2 s)
vergelijk as materialized (

    select
        s.peildatum,
        s.jaar,
        k.maand,
        coalesce(
            (
                select max(q.peildatum) from peildata as q
                where
                    q.peildatum <= cast(s.peildatum - interval '1 year' as date)
                    and q.peildatum >= cast(make_date(s.jaar - 1, k.maand, 1) + interval '1 month - 1 day' as date)
            ),
            (
                select min(q.peildatum) from peildata as q
                where q.peildatum >= cast(make_date(s.jaar - 1, k.maand, 1) + interval '1 month - 1 day' as date)
            )
        ) as vergeleken_peildatum
    from standen as s
    cross join generate_series(1, 12) as k (maand)
    where k.maand <= s.maanden_compleet

),

tot_nu as (

    select
        s.peildatum,
        s.jaar,
        m.niveau,
        m.code,
        sum(m.aanslagen) filter (where m.jaar = s.jaar and m.maand <= s.maanden_compleet) as aanslagen_tot_nu,
        sum(m.aanslagen) filter (where m.jaar = s.jaar - 1 and m.maand <= s.maanden_compleet)
            as zelfde_periode_vorig_jaar
    from standen as s
    inner join maanden as m
        on
            s.peildatum = m.peildatum
            and m.jaar in (s.jaar, s.jaar - 1)
    group by s.peildatum, s.jaar, m.niveau, m.code

),

vorige_stand as (

    select
        v.peildatum,
        v.jaar,
        m.niveau,
        m.code,
        sum(m.aanslagen) as vorig_jaar_zelfde_stand
    from vergelijk as v
    inner join maanden as m
        on
            v.vergeleken_peildatum = m.peildatum
            and m.jaar = v.jaar - 1
            and v.maand = m.maand
    group by v.peildatum, v.jaar, m.niveau, m.code

),

regels as (

    select * from {{ ref('int_doelen__regels') }}

),

-- the base year's count as known at the peildatum
basis as (

    select
        s.peildatum,
        s.jaar,
        r.niveau,
        r.code,
        sum(m.aanslagen) as aanslagen_basisjaar
    from standen as s
    inner join regels as r
        on s.jaar = r.jaar
    inner join maanden as m
        on
            s.peildatum = m.peildatum
            and r.niveau = m.niveau
            and r.code = m.code
            and r.basisjaar = m.jaar
    group by s.peildatum, s.jaar, r.niveau, r.code

),

raster as (

    select
        e.niveau,
        e.code,
        e.naam,
        s.jaar,
        s.peildatum,
        s.is_lopend_jaar,
        s.maanden_compleet,
        coalesce(t.aanslagen_tot_nu, 0) as aanslagen_tot_nu,
        coalesce(t.zelfde_periode_vorig_jaar, 0) as zelfde_periode_vorig_jaar,
        case when s.maanden_compleet > 0 then coalesce(v.vorig_jaar_zelfde_stand, 0) else 0 end
            as vorig_jaar_zelfde_stand,
        r.basisjaar,
        case when r.jaar is not null then coalesce(b.aanslagen_basisjaar, 0) end as aanslagen_basisjaar,
        {{ doel_uit_regel('r', 'coalesce(b.aanslagen_basisjaar, 0)') }} as doel,
        r.is_aangenomen as doel_aangenomen,
        r.bron as doel_bron
    from eenheden as e
    cross join standen as s
    left join tot_nu as t
        on s.peildatum = t.peildatum and s.jaar = t.jaar and e.niveau = t.niveau and e.code = t.code
    left join vorige_stand as v
        on s.peildatum = v.peildatum and s.jaar = v.jaar and e.niveau = v.niveau and e.code = v.code
    left join regels as r
        on s.jaar = r.jaar and e.niveau = r.niveau and e.code = r.code
    left join basis as b
        on s.peildatum = b.peildatum and s.jaar = b.jaar and e.niveau = b.niveau and e.code = b.code

),

final as (

    select
        niveau,
        code,
        naam,
        jaar,
        peildatum,
        is_lopend_jaar,
        cast(maanden_compleet as integer) as maanden_compleet,
        cast(aanslagen_tot_nu as integer) as aanslagen_tot_nu,
        cast(zelfde_periode_vorig_jaar as integer) as zelfde_periode_vorig_jaar,
        cast(vorig_jaar_zelfde_stand as integer) as vorig_jaar_zelfde_stand,
        cast(
            round(100.0 * (aanslagen_tot_nu - vorig_jaar_zelfde_stand) / nullif(vorig_jaar_zelfde_stand, 0), 1)
            as numeric(8, 1)
        ) as verandering_pct_tot_nu,
        cast(basisjaar as integer) as doel_basisjaar,
        cast(aanslagen_basisjaar as integer) as aanslagen_basisjaar,
        cast(doel as integer) as doel,
        case when doel is not null then doel_aangenomen end as doel_aangenomen,
        case when doel is not null then doel_bron end as doel_bron,
        cast(doel - aanslagen_tot_nu as integer) as nog_toegestaan,
        cast((doel - aanslagen_tot_nu) / nullif(12.0 - maanden_compleet, 0) as numeric) as nodig_per_maand,
        case
            when doel is null then null
            when maanden_compleet = 0 then 'te_vroeg'
            when aanslagen_basisjaar < {{ var('min_aanslagen_basisjaar') }} then 'te_weinig_gegevens'
        end as status_telling
    from raster

)

select * from final
