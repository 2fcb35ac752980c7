-- The running year's forecast: attacks so far, the expected count for the whole year with its interval,
-- and whether the target is in reach (marts.doel_prognose).
select
    p.niveau,
    p.code,
    p.jaar,
    p.peildatum,
    p.aanslagen_tot_nu,
    p.verwacht_jaar,
    p.verwacht_laag,
    p.verwacht_hoog,
    p.status
from marts.doel_prognose as p
order by p.jaar desc, p.niveau, p.code
