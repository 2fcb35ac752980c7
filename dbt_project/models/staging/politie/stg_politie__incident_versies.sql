-- Every delivered police row, renamed and typed: the raw material of the incident history.
-- No deduplication here; int_politie__incident_versies orders the versions per incident.
with

source as (

    -- the rows of the files up to the build's delivery window
    select * from {{ source('politie', 'incidenten') }}
    where {{ binnen_leveringsvenster() }}

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
        -- contract v2: the keyed hash is hexadecimal, compared without regard to case; empty is none
        nullif(lower(trim(adres_pseudoniem)), '') as adres_pseudoniem,

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

)

select * from renamed
