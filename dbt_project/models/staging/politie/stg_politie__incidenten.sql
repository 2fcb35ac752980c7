-- One row per police incident: the newest delivered version (newest peildatum; for the same peildatum the
-- file that arrived later, then the higher file id). The renaming lives in stg_politie__incidentversies.
with

versies as (

    select * from {{ ref('stg_politie__incidentversies') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by incident_id
            order by peildatum desc, aangekomen_op desc, file_id desc
        ) as versie_rang

    from versies

),

newest as (

    select * from ranked where versie_rang = 1

)

select
    incident_id, file_id, regelnummer,
    gemeente_code, postcode4, doelwit, uitkomst, explosief,
    gewonden, doden,
    telt_mee, ingetrokken, telt_voor_doel,
    incident_datum, peildatum,
    aangekomen_op, geladen_op
from newest
