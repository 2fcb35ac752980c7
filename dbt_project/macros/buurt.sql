{#
    The (municipality of today, postcode4) pairs of every version of the police incidents that changed since this
    model last ran: the pairs where their counted version was before the change and where it is now (a changed
    incident has all its versions rewritten in int_politie__incident_versies). An empty postcode4 is the key ''.
#}
{% macro postcode4_paren_gewijzigd() -%}
    select distinct
        v.gemeente_code_actueel as gemeente_code,
        coalesce(trim(v.postcode4), '') as postcode4_sleutel
    from {{ ref('int_politie__incident_versies') }} as v
    where v.bijgewerkt_op > {{ watermerk() }}
{%- endmacro %}

{# Pre-hook of aanslagen_per_postcode4: remove the rows of the changed pairs, which the model recounts. #}
{% macro postcode4_paren_opruimen() %}
    {% if is_incremental() %}
        delete from {{ this }} as t
        using ({{ postcode4_paren_gewijzigd() }}) as p
        where
            t.gemeente_code = p.gemeente_code
            and coalesce(t.postcode4, '') = p.postcode4_sleutel
    {% endif %}
{% endmacro %}

{#
    Counted attacks per municipality, postcode4, month and target over `bron` (rows of int_buurt__aanslagen): the
    grain of aanslagen_per_postcode4, shared by the model and the full-suite check of its incremental recount.
#}
{% macro telling_per_postcode4(bron) -%}
    select
        gemeente_code,
        postcode4,
        bool_and(is_postcode4_bekend) as is_postcode4_bekend,
        cast(date_trunc('month', incident_datum) as date) as maand,
        doelwit,
        cast(count(*) as integer) as aanslagen
    from {{ bron }}
    group by gemeente_code, postcode4, cast(date_trunc('month', incident_datum) as date), doelwit
{%- endmacro %}
