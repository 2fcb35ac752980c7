-- One row per housing-corporation report: the newest delivered version per (corporatie_code, melding_id).
with

source as (

    -- the rows of the files up to the build's delivery window
    select * from {{ source('corporaties', 'meldingen') }}
    where {{ binnen_leveringsvenster() }}

),

renamed as (

    select
        ---------- ids
        corporatie_code,
        melding_id,
        politie_incident_id,
        _file_id as file_id,
        _line_number as regelnummer,

        ---------- strings
        gemeente_code,
        postcode4,
        sluiting,

        ---------- numerics
        woningen_beschadigd,
        woningen_onbewoonbaar,
        huishoudens_ontheemd,
        herstelkosten_eur,

        ---------- booleans
        nazorg_aangeboden,
        coalesce(sluiting in ('art174a_gemeentewet', 'art13b_opiumwet'), false) as is_gesloten,

        ---------- dates
        incident_datum,
        peildatum,
        sluiting_start,
        sluiting_eind,

        ---------- timestamps
        _arrived_at as aangekomen_op,
        _loaded_at as geladen_op

    from source

),

newest as (

    {{ nieuwste_versie('renamed', ['corporatie_code', 'melding_id']) }}

)

select
    corporatie_code,
    melding_id,
    politie_incident_id,
    file_id,
    regelnummer,
    gemeente_code,
    postcode4,
    sluiting,
    woningen_beschadigd,
    woningen_onbewoonbaar,
    huishoudens_ontheemd,
    herstelkosten_eur,
    nazorg_aangeboden,
    is_gesloten,
    incident_datum,
    peildatum,
    sluiting_start,
    sluiting_eind,
    aangekomen_op,
    geladen_op
from newest
