{# The linked-record columns fct_explosie_incidenten copies from int_koppelingen__per_incident. #}
{% macro koppeling_kolommen() -%}
    {{ return([
        'aantal_claims', 'aantal_claims_schade', 'schade_geraamd_eur', 'uitgekeerd_eur', 'tijdelijke_huisvesting',
        'aantal_woningmeldingen', 'woningen_beschadigd', 'woningen_onbewoonbaar', 'huishoudens_ontheemd',
        'herstelkosten_eur', 'nazorg_aangeboden', 'is_gesloten', 'sluiting', 'sluiting_start', 'sluiting_eind',
    ]) }}
{%- endmacro %}

{#
    Pre-hook of fct_explosie_incidenten: remove the incidents that changed since the last run and no longer
    count (withdrawn, or telt_mee turned false). The model's delete+insert replaces only incidents that are
    in its new rows, and an incident that stopped counting has none.
#}
{% macro fct_incidenten_opruimen() %}
    {% if is_incremental() %}
        delete from {{ this }}
        where incident_id = any(array(
            select incident_id
            from {{ ref('int_politie__incidenten_actueel') }}
            where bijgewerkt_op > {{ watermerk() }}
              and not telt_voor_doel
        ))
    {% endif %}
{% endmacro %}
