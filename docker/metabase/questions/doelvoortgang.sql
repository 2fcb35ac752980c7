-- Target progress per year and level: the count, the year before, the target (90% of the year before, in the
-- target year) and whether it is met; country, police units and G4/G40/overig.
select
    t.jaar,
    t.niveau,
    t.code,
    t.naam,
    t.aanslagen,
    t.aanslagen_vorig_jaar,
    t.verandering_pct,
    t.doel,
    t.doel_gehaald,
    t.aanslagen_per_100k,
    t.jaar_compleet
from marts.target_progress as t
where t.niveau in ('land', 'politie_eenheid', 'g4', 'g40', 'overig')
order by t.jaar desc, t.niveau, t.code
