{{ config(tags=['volledige_historie']) }}
-- The incrementally maintained current incidents equal a full recomputation from every delivered row
-- (stg_politie__incidenten). Scans the whole police history, so it runs with the full suite only.
{%- set kolommen = [
    'incident_id', 'file_id', 'peildatum', 'incident_datum', 'gemeente_code',
    'doelwit', 'uitkomst', 'explosief', 'telt_mee', 'ingetrokken',
] %}
with

incrementeel as (

    select {{ kolommen | join(', ') }}
    from {{ ref('int_politie__incidenten_actueel') }}

),

volledig as (

    select {{ kolommen | join(', ') }}
    from {{ ref('stg_politie__incidenten') }}

),

verschil as (

    {{ verschil_beide_kanten('incrementeel', 'volledig') }}

)

select * from verschil
