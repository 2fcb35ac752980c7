{{ config(materialized='table', contract={'enforced': true}) }}

-- Open data: counted incidents in the whole country per year: the Offensief's target metric, as in marts
-- target_progress (niveau land). Suppressed only as the last resort of int_open_data__onderdrukking.
with

cellen as (

    select * from {{ ref('int_open_data__onderdrukking') }}
    where tabel = 'land_jaar'

),

final as (

    select
        jaar,
        case when not onderdrukt then aanslagen end as aanslagen,
        onderdrukt,
        peildatum >= make_date(jaar, 12, 31) as jaar_compleet,
        peildatum
    from cellen

)

select * from final
