{{ config(materialized='table', contract={'enforced': true}) }}

-- Open data: counted incidents per municipality of today and month, with small cells suppressed (aanslagen null,
-- onderdrukt true): every count from 1 to 4, and the complementary cells that keep them from being derived from
-- the published totals (see int_open_data__onderdrukking). Zeros are published. No postcode, no identifier.
with

cellen as (

    select * from {{ ref('int_open_data__onderdrukking') }}
    where tabel = 'gemeente_maand'

),

gemeenten as (

    select
        gemeente_code,
        gemeente_naam
    from {{ ref('dim_gemeenten') }}

),

final as (

    select
        c.gemeente_code,
        g.gemeente_naam,
        c.jaar,
        c.maand,
        make_date(c.jaar, c.maand, 1) as maand_start,
        case when not c.onderdrukt then c.aanslagen end as aanslagen,
        c.onderdrukt,
        c.peildatum >= cast(make_date(c.jaar, c.maand, 1) + interval '1 month' - interval '1 day' as date)
            as maand_compleet,
        c.peildatum
    from cellen as c
    inner join gemeenten as g
        on c.gemeente_code = g.gemeente_code

)

select * from final
