{#
    The build's delivery window as a condition on a raw table: `_file_id <= <tot_en_met_file_id>`, the newest
    file id in the ledger when the build started (stg_ops__leveringsvenster). The staging views that read a raw
    table whole use it, so that a file loaded while the build runs reaches none of the build's models (it is
    left whole to the next build, whose window the gate checks and the publication names).

    The value is read when the model runs and written as a literal: PostgreSQL then estimates the rows from its
    statistics (with a subquery it assumed a third of the rows and chose slower joins). The macro's ref, made
    whatever the branch, gives the model its dependency on the window, so that the window is built first.
    (The ledger view, stg_ops__leveringen, keeps a subquery: partial builds do not rebuild it.)
    A unit test gives the window as an input and gets it as a subquery. Before the first build, and while the
    project is parsed, there is no window: every row counts.
#}
{% macro binnen_leveringsvenster(kolom='_file_id') -%}
    {%- set venster = ref('stg_ops__leveringsvenster') -%}
    {%- if execute and model.resource_type == 'unit_test' -%}
        {{ kolom }} <= (select max(v.tot_en_met_file_id) from {{ venster }} as v)
    {%- elif execute and load_relation(venster) is not none -%}
        {%- set grens = run_query('select max(tot_en_met_file_id) from ' ~ venster).columns[0].values()[0] -%}
        {{ 'true' if grens is none else kolom ~ ' <= ' ~ grens }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
