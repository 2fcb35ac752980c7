{{ config(tags=['volledige_historie']) }}
-- The incrementally recounted aanslagen_per_postcode4 equals a count over all of int_buurt__aanslagen.
with

incrementeel as (

    select
        gemeente_code,
        postcode4,
        is_postcode4_bekend,
        maand,
        doelwit,
        aanslagen
    from {{ ref('aanslagen_per_postcode4') }}

),

volledig as (

    {{ telling_per_postcode4(ref('int_buurt__aanslagen')) }}

),

verschil as (

    {{ verschil_beide_kanten('incrementeel', 'volledig') }}

)

select * from verschil
