{# The linked-record columns fct_explosie_incidenten copies from int_koppelingen__per_incident. #}
{% macro koppeling_kolommen() -%}
    {{ return([
        'aantal_claims', 'aantal_claims_schade', 'schade_geraamd_eur', 'uitgekeerd_eur', 'tijdelijke_huisvesting',
        'aantal_woningmeldingen', 'woningen_beschadigd', 'woningen_onbewoonbaar', 'huishoudens_ontheemd',
        'herstelkosten_eur', 'nazorg_aangeboden', 'is_gesloten', 'sluiting', 'sluiting_start', 'sluiting_eind',
    ]) }}
{%- endmacro %}
