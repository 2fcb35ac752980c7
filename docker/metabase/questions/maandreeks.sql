-- The national month series: attacks per month, the same month a year before, and the running total.
select
    m.maand_start,
    m.jaar,
    m.maand,
    m.aanslagen,
    m.aanslagen_zelfde_maand_vorig_jaar,
    m.aanslagen_cumulatief,
    m.maand_compleet
from marts.target_progress_maandelijks as m
where m.niveau = 'land'
order by m.maand_start
