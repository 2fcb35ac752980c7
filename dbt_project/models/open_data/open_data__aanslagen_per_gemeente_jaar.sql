{{ config(materialized='table', contract={'enforced': true}) }}

-- Open data: counted incidents per municipality of today and year, with small cells suppressed (aanslagen null,
-- onderdrukt true): every count from 1 to 4, and the totals of municipalities whose suppressed months would
-- otherwise be derivable (see int_open_data__onderdrukking). Zeros are published. No postcode, no identifier.
with

cellen as (

    select * from {{ ref('int_open_data__onderdrukking') }}
    where tabel = 'gemeente_jaar'

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
        case when not c.onderdrukt then c.aanslagen end as aanslagen,
        c.onderdrukt,
        c.peildatum >= make_date(c.jaar, 12, 31) as jaar_compleet,
        c.peildatum
    from cellen as c
    inner join gemeenten as g
        on c.gemeente_code = g.gemeente_code

)

select * from final
