{#
    Helpers for the incremental models.

    Each incremental model stamps the rows it writes with `bijgewerkt_op` = the start of the dbt invocation
    and indexes that column, so "what changed since this model last ran" is an index lookup instead of a scan
    of the whole history. Watermarks are read when the model runs and written into the SQL as literals, so
    PostgreSQL plans with the real value (a parameter would be planned as if a third of the table matched).
#}

{# The timestamp every row written in this invocation carries. #}
{% macro run_tijdstip() -%}
    cast('{{ run_started_at }}' as timestamptz)
{%- endmacro %}

{#
    The newest value of `kolom` in `relatie` (default: this model) as a SQL literal; -infinity when empty, or when
    the table is from before the column existed (then everything counts as changed and is rewritten once).
#}
{% macro watermerk(kolom='bijgewerkt_op', relatie=none) -%}
    {%- set relatie = relatie if relatie is not none else this -%}
    {%- set waarde = '-infinity' -%}
    {%- if execute and kolom in adapter.get_columns_in_relation(relatie) | map(attribute='name') | list -%}
        {%- set sql = "select coalesce(max(" ~ kolom ~ "), '-infinity'::timestamptz)::text from " ~ relatie -%}
        {%- set result = run_query(sql) -%}
        {%- set waarde = result.columns[0].values()[0] -%}
    {%- endif -%}
    cast('{{ waarde }}' as timestamptz)
{%- endmacro %}

{#
    The ids of the files of `feed` that are loaded but not yet in this model (which has a `file_id` column with
    an index), as a SQL list such as (4, 7); (null) when there are none. The files already in the model are
    found by a loose index scan: one index probe per file, not a scan of the rows.
#}
{% macro nieuwe_bestanden(feed) -%}
    {%- set bestanden = ref('stg_ops__leveringen') -%}
    {%- if execute -%}
        {%- set query -%}
            with recursive verwerkt (file_id) as (
                (select file_id from {{ this }} order by file_id limit 1)
                union all
                select (
                    select v.file_id from {{ this }} as v
                    where v.file_id > w.file_id
                    order by v.file_id
                    limit 1
                )
                from verwerkt as w
                where w.file_id is not null
            )
            select b.file_id
            from {{ bestanden }} as b
            where b.feed = '{{ feed }}'
              and b.status = 'loaded'
              and not exists (select 1 from verwerkt as w where w.file_id = b.file_id)
            order by b.file_id
        {%- endset -%}
        {%- set ids = run_query(query).columns[0].values() -%}
        ({{ ids | join(', ') if ids else 'null' }})
    {%- else -%}
        (null)
    {%- endif -%}
{%- endmacro %}

{#
    Post-hook of the large incremental models: ANALYZE the table when it has never been analyzed (its first build
    or a full refresh), so the very next incremental run plans with statistics instead of waiting for autovacuum.
    Later runs leave it to autovacuum.
#}
{% macro analyseer_als_nieuw() -%}
    do $$
    begin
        if (select coalesce(last_analyze, last_autoanalyze) is null
            from pg_stat_user_tables where relid = '{{ this }}'::regclass) then
            execute 'analyze {{ this }}';
        end if;
    end
    $$
{%- endmacro %}

{#
    Pre-hook of the incremental models with one row per counted incident (fct_explosie_incidenten,
    int_buurt__aanslagen): remove the incidents that changed since the model last ran and no longer count
    (withdrawn, or telt_mee turned false). delete+insert replaces only the incidents in the new rows, and an
    incident that stopped counting has none.
#}
{% macro niet_meer_getelde_opruimen() %}
    {% if is_incremental() %}
        -- a join, not `= any(array(...))`: without a watermark (a table from before bijgewerkt_op) every
        -- incident that does not count is looked up, and an array that long is searched linearly per row
        delete from {{ this }} as t
        using {{ ref('int_politie__incidenten_actueel') }} as a
        where
            a.incident_id = t.incident_id
            and a.bijgewerkt_op > {{ watermerk() }}
            and not a.telt_voor_doel
    {% endif %}
{% endmacro %}
