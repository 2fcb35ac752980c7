-- The same year counted under the definitions different sources use, each a subset of the counted incidents
-- (fct_explosie_incidenten: telt_mee, not withdrawn, as known in the newest delivery):
--   politie_incl_pogingen  every counted incident, whatever the uitkomst: the target metric;
--   alleen_afgegaan        only devices that went off (press agencies such as ANP count these);
--   excl_geldautomaat      without attacks on cash machines.
-- Published figures live in seeds/gepubliceerde_totalen.csv and reconciliatie_per_definitie, never here.
with

incidenten as (

    select
        jaar,
        uitkomst,
        doelwit
    from {{ ref('fct_explosie_incidenten') }}

),

per_jaar as (

    select
        jaar,
        count(*) as politie_incl_pogingen,
        count(*) filter (where uitkomst = 'afgegaan') as alleen_afgegaan,
        count(*) filter (where doelwit <> 'geldautomaat') as excl_geldautomaat
    from incidenten
    group by jaar

),

final as (

    select
        cast(p.jaar as integer) as jaar,
        d.definitie,
        cast(d.aanslagen as integer) as aanslagen
    from per_jaar as p
    cross join lateral (
        values
        ('politie_incl_pogingen', p.politie_incl_pogingen),
        ('alleen_afgegaan', p.alleen_afgegaan),
        ('excl_geldautomaat', p.excl_geldautomaat)
    ) as d (definitie, aanslagen)

)

select
    definitie,
    jaar,
    aanslagen
from final
