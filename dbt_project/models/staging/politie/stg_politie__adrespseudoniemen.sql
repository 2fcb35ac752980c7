-- The address pseudonym (contract v2) of each police incident, from its newest version, in lower case:
-- the keyed hash is hexadecimal and compared without regard to case. An empty value is no pseudonym.
with

source as (

    -- the rows of the files up to the build's delivery window
    select * from {{ source('politie', 'incidenten') }}
    where {{ binnen_leveringsvenster() }}

),

renamed as (

    select
        incident_id,
        _file_id as file_id,
        nullif(lower(trim(adres_pseudoniem)), '') as adres_pseudoniem,
        peildatum,
        _arrived_at as aangekomen_op
    from source

),

newest as (

    {{ nieuwste_versie('renamed', ['incident_id']) }}

)

select
    incident_id,
    adres_pseudoniem
from newest
