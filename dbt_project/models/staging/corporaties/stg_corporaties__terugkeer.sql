-- The return date (contract v2) of each housing-corporation report, from its newest version: the day by which
-- every displaced household was back home or rehoused; empty while any is still displaced.
with

source as (

    -- the rows of the files up to the build's delivery window
    select * from {{ source('corporaties', 'meldingen') }}
    where {{ binnen_leveringsvenster() }}

),

renamed as (

    select
        corporatie_code,
        melding_id,
        _file_id as file_id,
        terugkeer_datum,
        peildatum,
        _arrived_at as aangekomen_op
    from source

),

newest as (

    {{ nieuwste_versie('renamed', ['corporatie_code', 'melding_id']) }}

)

select
    corporatie_code,
    melding_id,
    terugkeer_datum,
    peildatum
from newest
