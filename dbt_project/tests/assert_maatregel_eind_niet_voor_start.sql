-- A measure cannot end before it starts (the contract's rule, checked again after the newest-version choice).
select
    gemeente_code_geleverd,
    maatregel_id,
    postcode4,
    start_datum,
    eind_datum
from {{ ref('maatregelen') }}
where eind_datum < start_datum
