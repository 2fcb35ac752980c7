-- One row per insurer claim: the newest delivered version per (verzekeraar_code, claim_id).
with

source as (

    -- the rows of the files up to the build's delivery window
    select * from {{ source('verzekeraars', 'claims') }}
    where {{ binnen_leveringsvenster() }}

),

renamed as (

    select
        ---------- ids
        verzekeraar_code,
        claim_id,
        politie_incident_id,
        _file_id as file_id,
        _line_number as regelnummer,

        ---------- strings
        gemeente_code,
        postcode4,
        branche,
        oorzaak,
        status,

        ---------- numerics
        schade_geraamd_eur,
        uitgekeerd_eur,

        ---------- booleans
        tijdelijke_huisvesting,
        -- the contract's rule for insurer damage: deliberate explosions, not rejected
        oorzaak = 'explosie_opzet' and status <> 'afgewezen' as telt_als_schade,

        ---------- dates
        schadedatum,
        peildatum,

        ---------- timestamps
        _arrived_at as aangekomen_op,
        _loaded_at as geladen_op

    from source

),

newest as (

    {{ nieuwste_versie('renamed', ['verzekeraar_code', 'claim_id']) }}

)

select
    verzekeraar_code,
    claim_id,
    politie_incident_id,
    file_id,
    regelnummer,
    gemeente_code,
    postcode4,
    branche,
    oorzaak,
    status,
    schade_geraamd_eur,
    uitgekeerd_eur,
    tijdelijke_huisvesting,
    telt_als_schade,
    schadedatum,
    peildatum,
    aangekomen_op,
    geladen_op
from newest
