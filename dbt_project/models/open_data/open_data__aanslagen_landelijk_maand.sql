{{ config(materialized='table', contract={'enforced': true}) }}

-- Open data: counted incidents in the whole country per month. Only suppressed in a month so sparse that its
-- municipality cells could not be protected otherwise (see int_open_data__onderdrukking).
with

cellen as (

    select * from {{ ref('int_open_data__onderdrukking') }}
    where tabel = 'land_maand'

),

final as (

    select
        jaar,
        maand,
        make_date(jaar, maand, 1) as maand_start,
        case when not onderdrukt then aanslagen end as aanslagen,
        onderdrukt,
        peildatum >= cast(make_date(jaar, maand, 1) + interval '1 month' - interval '1 day' as date) as maand_compleet,
        peildatum
    from cellen

)

select * from final
