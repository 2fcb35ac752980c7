-- The history at the newest peildatum equals the national counts of target_progress.
with

historie as (

    select
        jaar,
        aanslagen
    from {{ ref('target_progress_historie') }}
    where peildatum = (select max(h.peildatum) from {{ ref('target_progress_historie') }} as h)

),

land as (

    select
        jaar,
        aanslagen
    from {{ ref('target_progress') }}
    where niveau = 'land' and aanslagen > 0

)

select
    coalesce(h.jaar, l.jaar) as jaar,
    h.aanslagen as historie,
    l.aanslagen as land
from historie as h
full outer join land as l
    on h.jaar = l.jaar
where h.aanslagen is distinct from l.aanslagen
