-- The reporting levels of target_progress, as a bridge: every municipality of today belongs to the
-- country (land, NL), to itself (gemeente), to its police unit (politie_eenheid, RE01..RE10) and to exactly
-- one group (g4, g40 or overig). Rolling municipality figures up through this table keeps
-- country = sum of municipalities = sum of police units = G4 + G40 + overig.
with

gemeenten as (

    select * from {{ ref('stg_referentie__gemeenten') }}

),

indelingen as (

    select * from {{ ref('stg_referentie__gemeente_indelingen') }}

),

basis as (

    select
        g.gemeente_code,
        g.gemeente_naam,
        g.politie_eenheid,
        i.politie_eenheid_code,
        g.is_g4,
        g.is_g40,
        g.inwoners,
        g.inwoners_peiljaar
    from gemeenten as g
    left join indelingen as i
        on g.gemeente_code = i.gemeente_code

),

niveaus as (

    select
        gemeente_code,
        'land' as niveau,
        'NL' as code,
        'Nederland' as naam,
        inwoners,
        inwoners_peiljaar
    from basis

    union all

    select
        gemeente_code,
        'politie_eenheid',
        politie_eenheid_code,
        'Eenheid ' || politie_eenheid,
        inwoners,
        inwoners_peiljaar
    from basis

    union all

    select
        gemeente_code,
        'gemeente',
        gemeente_code,
        gemeente_naam,
        inwoners,
        inwoners_peiljaar
    from basis

    union all

    select
        gemeente_code,
        case when is_g4 then 'g4' when is_g40 then 'g40' else 'overig' end,
        case when is_g4 then 'G4' when is_g40 then 'G40' else 'overig' end,
        case
            when is_g4 then 'G4 (Amsterdam, Rotterdam, Den Haag, Utrecht)'
            when is_g40 then 'G40 (middelgrote steden)'
            else 'Overige gemeenten'
        end,
        inwoners,
        inwoners_peiljaar
    from basis

)

select
    gemeente_code,
    niveau,
    code,
    naam,
    inwoners,
    inwoners_peiljaar
from niveaus
