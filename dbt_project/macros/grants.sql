{#
    After a run, let the publisher read what dbt built: usage on every schema dbt wrote to and select on
    its tables and views. Skipped when the role em_publisher does not exist (a bare development database).
#}
{% macro grant_build_schemas_to_publisher(schemas) %}
    {% if execute and schemas %}
        {% set found = run_query("select 1 from pg_roles where rolname = 'em_publisher'") %}
        {% if found.rows | length > 0 %}
            {% for schema in schemas | unique %}
                {% do run_query("grant usage on schema " ~ adapter.quote(schema) ~ " to em_publisher") %}
                {% do run_query("grant select on all tables in schema " ~ adapter.quote(schema) ~ " to em_publisher") %}
            {% endfor %}
        {% endif %}
    {% endif %}
{% endmacro %}
