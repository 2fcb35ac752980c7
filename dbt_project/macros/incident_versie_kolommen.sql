{# The columns of a police incident version as stg_politie__incident_versies delivers them, comma-separated,
   optionally prefixed with a table alias: the staging and intermediate police models carry exactly these. #}
{% macro incident_versie_kolommen(alias=none) -%}
    {%- set kolommen = [
        'incident_id', 'file_id', 'regelnummer',
        'gemeente_code', 'postcode4', 'doelwit', 'uitkomst', 'explosief',
        'gewonden', 'doden',
        'telt_mee', 'ingetrokken', 'telt_voor_doel',
        'incident_datum', 'peildatum',
        'aangekomen_op', 'geladen_op',
    ] -%}
    {%- for kolom in kolommen %}{{ alias ~ '.' if alias }}{{ kolom }}{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}
