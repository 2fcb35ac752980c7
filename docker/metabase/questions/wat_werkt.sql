-- Wat werkt: the measures and what the figures say about their effect (marts.wat_werkt).
select w.*
from marts.wat_werkt as w
