-- Every split municipality in the merger table has exactly one chosen successor, and it is one of the
-- municipalities that received part of it (seeds/splitsingen_opvolger.csv).
with

splitsingen as (

    select distinct oude_gemeente_code
    from {{ ref('stg_referentie__herindelingen') }}
    where is_splitsing

),

keuzes as (

    select
        s.oude_gemeente_code,
        count(o.opvolger_gemeente_code) as aantal_keuzes,
        count(h.nieuwe_gemeente_code) as keuzes_onder_ontvangers
    from splitsingen as s
    left join {{ ref('stg_referentie__splitsingen_opvolger') }} as o
        on s.oude_gemeente_code = o.oude_gemeente_code
    left join {{ ref('stg_referentie__herindelingen') }} as h
        on
            o.oude_gemeente_code = h.oude_gemeente_code
            and o.opvolger_gemeente_code = h.nieuwe_gemeente_code
    group by s.oude_gemeente_code

)

select * from keuzes
where aantal_keuzes <> 1 or keuzes_onder_ontvangers <> 1
