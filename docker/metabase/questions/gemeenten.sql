-- Every municipality in the newest year: attacks, the year before, the change, per 100,000 inhabitants,
-- and the insured damage.
with nieuwste as (
    select max(jaar) as jaar from marts.target_progress
)

select
    t.code as gemeente_code,
    t.naam as gemeente,
    t.jaar,
    t.aanslagen,
    t.aanslagen_vorig_jaar,
    t.verandering_pct,
    t.aanslagen_per_100k,
    s.claims,
    s.schade_geraamd_eur
from marts.target_progress as t
inner join nieuwste as n on t.jaar = n.jaar
left join marts.schade_en_woningimpact_per_gemeente as s
    on s.gemeente_code = t.code and s.jaar = t.jaar
where t.niveau = 'gemeente'
order by t.aanslagen desc, t.naam
