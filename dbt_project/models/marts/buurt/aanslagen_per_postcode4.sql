-- Counted attacks per municipality of today, postcode4, month and target. Row-level security
-- (explosion_monitor.access): only the municipality's own login and analist see rows. An empty postcode4 is
-- null; a postcode4 missing from the CBS reference is kept, flagged as unknown.
with

aanslagen as (

    select * from {{ ref('int_buurt__aanslagen') }}

),

final as (

    select
        gemeente_code,
        postcode4,
        bool_and(is_postcode4_bekend) as is_postcode4_bekend,
        cast(date_trunc('month', incident_datum) as date) as maand,
        doelwit,
        cast(count(*) as integer) as aanslagen
    from aanslagen
    group by gemeente_code, postcode4, cast(date_trunc('month', incident_datum) as date), doelwit

)

select * from final
