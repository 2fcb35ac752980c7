-- For the municipality's own login only (row-level security, explosion_monitor.access): every counted attack on
-- an address hit more than once, with its date, postcode4 and the days since the previous attack, so the local
-- triangle can recognise its own cases. Pseudonyms only: no address can be read from them.
with

reeksen as (

    select * from {{ ref('int_buurt__adresreeksen') }}
    where aanslagen_op_adres >= 2

),

final as (

    select
        gemeente_code,
        adres_pseudoniem,
        cast(volgnummer as integer) as volgnummer,
        cast(aanslagen_op_adres as integer) as aanslagen_op_adres,
        incident_datum,
        postcode4,
        doelwit,
        cast(dagen_sinds_vorige as integer) as dagen_sinds_vorige
    from reeksen

)

select * from final
