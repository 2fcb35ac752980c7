{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['jaar']}]
    )
}}

-- The counts the open data publishes, per municipality of today and month, as they stood when their year was
-- fixed (vastgesteld): the open data publishes a year once, after it, and never changes it again. A year is fixed
-- by the first police delivery (in the ledger's order) with a peildatum at least `open_data_wachttijd_maanden`
-- after the year's end, so the late reports of the first months are in; its counts are the incidents as known
-- right after that delivery was loaded (per incident the contract's newest version among the deliveries up to
-- it). Later withdrawals and late additions reach the marts, not the published year: two releases therefore never
-- differ in a published count, and nobody can subtract them (see int_open_data__onderdrukking).
--
-- Incremental: a year is computed once, when it becomes fixed. The counts depend on the deliveries and their order
-- only, so a full refresh and a rebuild from the archive give the same years (unless the retention purge removed
-- the fixing delivery itself; that changes a year as old as the retention period).
--
-- Same columns as target_progress_maandelijks (niveau, code, jaar, maand, aanslagen, peildatum), which the
-- suppression reads them like.

with

leveringen as (

    select
        file_id,
        peildatum
    from {{ ref('int_politie__leveringen') }}

),

jaren as (

    select distinct jaar from {{ ref('target_progress_maandelijks') }}

),

-- every year that is fixed and not yet here, with the delivery that fixed it
vaststelling as (

    select
        j.jaar,
        min(l.file_id) as file_id
    from jaren as j
    inner join leveringen as l
        on l.peildatum >= cast(
            make_date(j.jaar + 1, 1, 1)
            + make_interval(months => {{ var('open_data_wachttijd_maanden') }}) as date
        )
    {% if is_incremental() %}
        where j.jaar not in (select v.jaar from {{ this }} as v)
    {% endif %}
    group by j.jaar

),

-- the peildatum the year is known at: the newest of the deliveries up to the fixing one
vast as (

    select
        v.jaar,
        v.file_id,
        (
            select max(l.peildatum) from leveringen as l
            where l.file_id <= v.file_id
        ) as peildatum
    from vaststelling as v

),

-- per fixed year, each incident's version that counted right after the fixing delivery was loaded
versies as (

    select
        v.jaar_vast,
        v.gemeente_code_actueel,
        v.incident_datum,
        v.telt_voor_doel
    from (
        select
            f.jaar as jaar_vast,
            i.gemeente_code_actueel,
            i.incident_datum,
            i.telt_voor_doel,
            row_number() over (
                partition by f.jaar, i.incident_id
                order by i.peildatum desc, i.aangekomen_op desc, i.file_id desc
            ) as versie_rang
        from vast as f
        inner join {{ ref('int_politie__incident_versies') }} as i
            on f.file_id >= i.file_id
    ) as v
    where v.versie_rang = 1

),

tellingen as (

    select
        jaar_vast as jaar,
        gemeente_code_actueel as gemeente_code,
        cast(extract(month from incident_datum) as integer) as maand,
        count(*) as aanslagen
    from versies
    where
        telt_voor_doel
        and extract(year from incident_datum) = jaar_vast
    group by jaar_vast, gemeente_code_actueel, extract(month from incident_datum)

),

gemeenten as (

    select distinct
        gemeente_code,
        code
    from {{ ref('int_gemeenten__niveaus') }}
    where niveau = 'gemeente'

),

final as (

    select
        cast('gemeente' as text) as niveau,
        g.code,
        cast(f.jaar as integer) as jaar,
        cast(m.maand as integer) as maand,
        cast(coalesce(sum(t.aanslagen), 0) as integer) as aanslagen,
        f.peildatum,
        {{ run_tijdstip() }} as vastgesteld_op
    from vast as f
    cross join generate_series(1, 12) as m (maand)
    cross join gemeenten as g
    left join tellingen as t
        on
            f.jaar = t.jaar
            and m.maand = t.maand
            and g.gemeente_code = t.gemeente_code
    group by g.code, f.jaar, m.maand, f.peildatum

)

select * from final
