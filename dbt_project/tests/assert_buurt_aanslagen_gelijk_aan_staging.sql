{{ config(tags=['volledige_historie']) }}
-- The incrementally maintained int_buurt__aanslagen equals a recomputation: the counted current incidents with
-- the pseudonym of their newest delivered version (stg_politie__incidenten orders every delivered row again).
-- Scans the whole police history, so it runs with the full suite only.
with

incrementeel as (

    select
        incident_id,
        gemeente_code,
        postcode4,
        doelwit,
        incident_datum,
        peildatum,
        adres_pseudoniem
    from {{ ref('int_buurt__aanslagen') }}

),

volledig as (

    select
        a.incident_id,
        a.gemeente_code_actueel as gemeente_code,
        nullif(trim(a.postcode4), '') as postcode4,
        a.doelwit,
        a.incident_datum,
        a.peildatum,
        s.adres_pseudoniem
    from {{ ref('int_politie__incidenten_actueel') }} as a
    inner join {{ ref('stg_politie__incidenten') }} as s
        on a.incident_id = s.incident_id
    where a.telt_voor_doel

),

verschil as (

    {{ verschil_beide_kanten('incrementeel', 'volledig') }}

)

select * from verschil
