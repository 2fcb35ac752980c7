-- One row per measure and area as known in the newest delivery (the contract's newest-peildatum rule per
-- (gemeente_code, maatregel_id, postcode4)), without the rows the network withdrew (delivered in error).
-- Codes are as delivered (valid on start_datum); int_maatregelen__gebieden maps them to today's municipality.
with

source as (

    -- the rows of the files up to the build's delivery window
    select * from {{ source('gemeenten', 'maatregelen') }}
    where {{ binnen_leveringsvenster() }}

),

renamed as (

    select
        ---------- ids
        gemeente_code,
        maatregel_id,
        _file_id as file_id,
        _line_number as regelnummer,

        ---------- strings
        soort,
        fase,
        -- the key's empty postcode4 (the whole municipality) is null; '' would be the same key
        nullif(postcode4, '') as postcode4,
        omschrijving,

        ---------- numerics
        kosten_eur,

        ---------- booleans
        coalesce(ingetrokken, false) as ingetrokken,

        ---------- dates
        peildatum,
        start_datum,
        eind_datum,

        ---------- timestamps
        _arrived_at as aangekomen_op,
        _loaded_at as geladen_op

    from source

),

newest as (

    {{ nieuwste_versie('renamed', ['gemeente_code', 'maatregel_id', 'postcode4']) }}

)

select
    gemeente_code,
    maatregel_id,
    file_id,
    regelnummer,
    soort,
    fase,
    postcode4,
    omschrijving,
    kosten_eur,
    peildatum,
    start_datum,
    eind_datum,
    aangekomen_op,
    geladen_op
from newest
where not ingetrokken
