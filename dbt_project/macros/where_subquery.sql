{#
    Data tests may filter the rows they check with `config: where:`. In a where clause, the placeholder
    __laatste_run__ stands for "the rows the latest run of the tested incremental model wrote":

        where: "__laatste_run__"     ->   bijgewerkt_op = '<newest bijgewerkt_op in the model>'::timestamptz

    A full refresh writes every row in one run, so then everything is tested. The value is read when the test
    runs and written as a literal, so PostgreSQL uses the bijgewerkt_op index instead of scanning the history
    (the test's `where` itself is rendered when the project is parsed, before the model has run).
#}
{% macro postgres__get_where_subquery(relation) -%}
{% set where = config.get('where', '') %}
{% if where %}
{% if '__laatste_run__' in where %}
{% set laatste = "'-infinity'" %}
{% if execute %}
                {% set result = run_query("select max(bijgewerkt_op)::text from " ~ relation) %}
                {% set waarde = result.columns[0].values()[0] %}
                {% set laatste = "'" ~ waarde ~ "'" if waarde else "'-infinity'" %}
            {% endif %}
            {% set where = where | replace('__laatste_run__', 'bijgewerkt_op = ' ~ laatste ~ '::timestamptz') %}
        {% endif %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}
