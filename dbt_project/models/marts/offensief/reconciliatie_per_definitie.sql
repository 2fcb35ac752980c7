-- Ours beside theirs, per definition: every published figure of seeds/gepubliceerde_totalen.csv (per year,
-- definition and source) next to the warehouse's count under the same definition (telling_per_definitie), and
-- every year and definition we count without a published figure. A lower bound ("ten minste") is met when our
-- count is at least the figure.
with

ons as (

    select * from {{ ref('telling_per_definitie') }}

),

gepubliceerd as (

    select * from {{ ref('stg_referentie__gepubliceerde_totalen') }}

),

final as (

    select
        coalesce(o.definitie, g.definitie) as definitie,
        cast(coalesce(o.jaar, g.jaar) as integer) as jaar,
        cast(o.aanslagen as integer) as aanslagen_warehouse,
        cast(g.aantal_gepubliceerd as integer) as aantal_gepubliceerd,
        g.is_ten_minste as gepubliceerd_ten_minste,
        g.bron,
        g.publicatiedatum,
        cast(o.aanslagen - g.aantal_gepubliceerd as integer) as afwijking,
        cast(
            round(100.0 * (o.aanslagen - g.aantal_gepubliceerd) / nullif(g.aantal_gepubliceerd, 0), 2)
            as numeric(8, 2)
        ) as afwijking_pct
    from ons as o
    full outer join gepubliceerd as g
        on
            o.definitie = g.definitie
            and o.jaar = g.jaar

)

select * from final
