-- The warehouse's national count per year against the published national figure
-- (seeds/gepubliceerde_totalen.csv), with the deviation flagged above var afwijking_drempel_pct (2%).
-- One row per year that has either a count or a published figure.
with

land as (

    select
        jaar,
        aanslagen,
        peildatum
    from {{ ref('target_progress') }}
    where niveau = 'land'

),

gepubliceerd as (

    -- the target metric's definition; the other definitions are in reconciliatie_per_definitie
    select * from {{ ref('stg_referentie__gepubliceerde_totalen') }}
    where definitie = 'politie_incl_pogingen'

),

vergeleken as (

    select
        coalesce(l.jaar, g.jaar) as jaar,
        l.aanslagen as aanslagen_warehouse,
        g.aantal_gepubliceerd,
        g.bron,
        g.publicatiedatum,
        l.aanslagen - g.aantal_gepubliceerd as afwijking,
        round(100.0 * (l.aanslagen - g.aantal_gepubliceerd) / nullif(g.aantal_gepubliceerd, 0), 2) as afwijking_pct,
        (select max(nieuwste.peildatum) from land as nieuwste) as peildatum
    from land as l
    full outer join gepubliceerd as g
        on l.jaar = g.jaar

),

final as (

    select
        cast(jaar as integer) as jaar,
        cast(aanslagen_warehouse as integer) as aanslagen_warehouse,
        cast(aantal_gepubliceerd as integer) as aantal_gepubliceerd,
        bron,
        publicatiedatum,
        cast(afwijking as integer) as afwijking,
        cast(afwijking_pct as numeric(8, 2)) as afwijking_pct,
        abs(afwijking_pct) > {{ var('afwijking_drempel_pct') }} as afwijking_boven_drempel,
        peildatum
    from vergeleken

)

select * from final
