{{ config(materialized='view') }}

-- One row per police incident as known in the newest delivery: the current version from
-- int_politie__incident_versies (a view, so it never lags behind; lookups use that table's indexes).
select
    incident_id,
    file_id,
    regelnummer,
    gemeente_code,
    gemeente_code_actueel,
    postcode4,
    doelwit,
    uitkomst,
    explosief,
    jaar,
    gewonden,
    doden,
    telt_mee,
    ingetrokken,
    telt_voor_doel,
    is_gemeente_code_gemapt,
    incident_datum,
    peildatum,
    bijgewerkt_op
from {{ ref('int_politie__incident_versies') }}
where is_actueel
