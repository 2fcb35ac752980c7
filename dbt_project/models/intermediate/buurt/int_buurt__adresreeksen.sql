-- Every counted attack on an address (a pseudonym), numbered per address in date order, with the days since the
-- previous attack on the same address. Addresses are compared by lower-case pseudonym.
with

aanslagen as (

    select * from {{ ref('int_buurt__aanslagen') }}
    where adres_pseudoniem is not null

),

final as (

    select
        incident_id,
        gemeente_code,
        adres_pseudoniem,
        postcode4,
        doelwit,
        incident_datum,
        jaar,
        cast(row_number() over (
            partition by adres_pseudoniem order by incident_datum, incident_id
        ) as integer) as volgnummer,
        cast(count(*) over (partition by adres_pseudoniem) as integer) as aanslagen_op_adres,
        incident_datum - lag(incident_datum) over (
            partition by adres_pseudoniem order by incident_datum, incident_id
        ) as dagen_sinds_vorige
    from aanslagen

)

select * from final
