-- One row per police incident: the newest delivered version (newest peildatum; for the same peildatum the
-- file that arrived later, then the higher file id), with that version's address pseudonym. The renaming lives in
-- stg_politie__incident_versies.
with

versies as (

    select * from {{ ref('stg_politie__incident_versies') }}

),

newest as (

    {{ nieuwste_versie('versies', ['incident_id']) }}

)

select
    {{ incident_versie_kolommen() }},
    adres_pseudoniem
from newest
