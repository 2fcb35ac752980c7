-- The target rule of every reporting unit and every year in seeds/doelen.csv: the unit's own row, else the
-- year's rule. An absolute maximum in the year's rule is the country's; below the country the year's rule is
-- applied to the unit's own count and is always assumed.
with

doelen as (

    select * from {{ ref('stg_referentie__doelen') }}

),

eenheden as (

    select distinct
        niveau,
        code
    from {{ ref('int_gemeenten__niveaus') }}

),

jaren as (

    select distinct jaar from doelen

),

final as (

    select
        e.niveau,
        e.code,
        j.jaar,
        coalesce(eigen.basisjaar, alg.basisjaar) as basisjaar,
        case when eigen.jaar is not null then eigen.max_pct_van_basis else alg.max_pct_van_basis end
            as max_pct_van_basis,
        case
            when eigen.jaar is not null then eigen.max_aanslagen
            when e.niveau = 'land' then alg.max_aanslagen
        end as max_aanslagen,
        coalesce(eigen.bron, alg.bron) as bron,
        case
            when eigen.jaar is not null then eigen.is_aangenomen
            when e.niveau = 'land' then alg.is_aangenomen
            else true
        end as is_aangenomen
    from eenheden as e
    cross join jaren as j
    left join doelen as eigen
        on
            j.jaar = eigen.jaar
            and e.niveau = eigen.niveau
            and e.code = eigen.code
    left join doelen as alg
        on
            j.jaar = alg.jaar
            and alg.niveau is null
    where eigen.jaar is not null or alg.jaar is not null

)

select * from final
