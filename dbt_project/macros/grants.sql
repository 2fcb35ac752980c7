{#
    After a run, let the publisher read what dbt built: usage on every schema dbt wrote to and select on
    its tables and views. The publisher is <prefix>em_publisher, the prefix being this warehouse's role prefix
    (ops.role_prefix(), see explosion_monitor.access). Skipped when that role does not exist (a bare
    development database).
#}
{% macro grant_build_schemas_to_publisher(schemas) %}
    {% if execute and schemas %}
        {% set has_prefix = run_query("select to_regprocedure('ops.role_prefix()') is not null") %}
        {% set prefix_sql = "ops.role_prefix()" if has_prefix.rows[0][0] else "''" %}
        {% set found = run_query("select rolname from pg_roles where rolname = " ~ prefix_sql ~ " || 'em_publisher'") %}
        {% if found.rows | length > 0 %}
            {% set publisher = adapter.quote(found.rows[0][0]) %}
            {% for schema in schemas | unique %}
                {% do run_query("grant usage on schema " ~ adapter.quote(schema) ~ " to " ~ publisher) %}
                {% do run_query("grant select on all tables in schema " ~ adapter.quote(schema) ~ " to " ~ publisher) %}
            {% endfor %}
        {% endif %}
    {% endif %}
{% endmacro %}

{#
    on-run-start: models renamed or removed in a release leave their old views behind in existing warehouses (dbt
    drops nothing it no longer knows). Drop them, so nothing reads or keeps alive a relation the project no longer
    has (stg_politie__adrespseudoniemen held every incident's address pseudonym).
#}
{% macro verwijder_hernoemde_modellen() %}
    {% set hernoemd = {
        'staging': ['stg_politie__incidentversies', 'stg_ops__bestanden', 'stg_politie__adrespseudoniemen'],
    } %}
    {% for schema, namen in hernoemd.items() %}
        {% for naam in namen %}
            drop view if exists {{ adapter.quote(target.schema ~ '_' ~ schema) }}.{{ adapter.quote(naam) }};
        {% endfor %}
    {% endfor %}
{% endmacro %}
