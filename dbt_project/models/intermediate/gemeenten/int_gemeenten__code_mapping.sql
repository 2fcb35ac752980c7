-- Every municipality code a delivery may carry, with the municipality of today it belongs to.
--
-- A code is valid until `geldig_tot` (exclusive; null while the municipality exists). Codes of merged
-- municipalities follow their successor, recursively, so a chain of mergers ends at today's code. A split
-- municipality follows the one successor chosen in seeds/splitsingen_opvolger.csv (the legal successor,
-- or the one that took the largest part). Join on the code and on the event date being before
-- `geldig_tot`: a code is mapped only for dates on which it was valid.
with recursive

gemeenten as (

    select
        gemeente_code,
        gemeente_naam
    from {{ ref('stg_referentie__gemeenten') }}

),

herindelingen as (

    select * from {{ ref('stg_referentie__herindelingen') }}

),

splitsingen as (

    select * from {{ ref('stg_referentie__splitsingen_opvolger') }}

),

-- one step per abolished code: to its successor (for a split, the chosen one)
stappen as (

    select
        h.oude_gemeente_code,
        h.oude_naam,
        h.nieuwe_gemeente_code as opvolger_code,
        h.ingangsdatum,
        h.is_splitsing,
        s.regel as splitsingsregel
    from herindelingen as h
    left join splitsingen as s
        on h.oude_gemeente_code = s.oude_gemeente_code
    where
        not h.is_splitsing
        or h.nieuwe_gemeente_code = s.opvolger_gemeente_code

),

ketens (gemeente_code, gemeente_naam, geldig_tot, huidige_code, aantal_stappen, via_splitsing, regel, pad) as (

    select
        oude_gemeente_code,
        oude_naam,
        ingangsdatum,
        opvolger_code,
        1,
        is_splitsing,
        splitsingsregel,
        oude_gemeente_code || ' > ' || opvolger_code
    from stappen

    union all

    select
        k.gemeente_code,
        k.gemeente_naam,
        k.geldig_tot,
        s.opvolger_code,
        k.aantal_stappen + 1,
        k.via_splitsing or s.is_splitsing,
        coalesce(k.regel, s.splitsingsregel),
        k.pad || ' > ' || s.opvolger_code
    from ketens as k
    inner join stappen as s
        on s.oude_gemeente_code = k.huidige_code
        -- the next merger must come after the one that led here
        and k.geldig_tot < s.ingangsdatum
    where k.aantal_stappen < 20

),

-- the end of each chain: the last step
historisch as (

    select distinct on (gemeente_code)
        gemeente_code,
        gemeente_naam,
        geldig_tot,
        huidige_code as gemeente_code_actueel,
        aantal_stappen,
        via_splitsing,
        regel,
        pad
    from ketens
    order by gemeente_code asc, aantal_stappen desc

),

actueel as (

    select
        gemeente_code,
        gemeente_naam,
        cast(null as date) as geldig_tot,
        gemeente_code as gemeente_code_actueel,
        0 as aantal_stappen,
        false as via_splitsing,
        cast(null as text) as regel,
        gemeente_code as pad
    from gemeenten

),

final as (

    select * from actueel
    union all
    select * from historisch
    where historisch.gemeente_code not in (select g.gemeente_code from gemeenten as g)

)

select
    gemeente_code,
    gemeente_naam,
    geldig_tot,
    gemeente_code_actueel,
    aantal_stappen,
    via_splitsing,
    coalesce(
        regel,
        case when aantal_stappen = 0 then 'bestaande gemeente' else 'samengevoegd' end
    ) as regel,
    pad
from final
