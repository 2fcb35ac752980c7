{#
    The rows of two CTEs with the same columns that are not in both, labelled 'alleen_<name>' by the side they
    are on (duplicates count: except all). The singular tests that check an incremental model against a
    recomputation select this; no row is a pass.
#}
{% macro verschil_beide_kanten(links, rechts) -%}
    (select
        'alleen_{{ links }}' as waar,
        *
    from {{ links }}
    except all
    select
        'alleen_{{ links }}',
        *
    from {{ rechts }})
    union all
    (select
        'alleen_{{ rechts }}' as waar,
        *
    from {{ rechts }}
    except all
    select
        'alleen_{{ rechts }}',
        *
    from {{ links }})
{%- endmacro %}
