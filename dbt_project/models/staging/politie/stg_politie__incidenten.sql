-- One row per police incident: the newest delivered version (newest peildatum; for the same peildatum the
-- file that arrived later, then the higher file id).
with

source as (

    select * from {{ source('politie', 'incidenten') }}

),

renamed as (

    select
        ---------- ids
        incident_id,
        _file_id as file_id,
        _line_number as regelnummer,

        ---------- strings
        gemeente_code,
        postcode4,
        doelwit,
        uitkomst,
        explosief,

        ---------- numerics
        gewonden,
        doden,

        ---------- booleans
        telt_mee,
        coalesce(ingetrokken, false) as ingetrokken,
        telt_mee and not coalesce(ingetrokken, false) as telt_voor_doel,

        ---------- dates
        incident_datum,
        peildatum,

        ---------- timestamps
        _arrived_at as aangekomen_op,
        _loaded_at as geladen_op

    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by incident_id
            order by peildatum desc, aangekomen_op desc, file_id desc
        ) as versie_rang

    from renamed

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
