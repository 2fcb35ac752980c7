{#
    The target of a unit: the largest whole number that meets its rule (seeds/doelen.csv), i.e. the absolute
    maximum, or floor(count of the base year x max_pct_van_basis / 100). The arithmetic is exact (numeric), so
    90% of 1,543 is 1,388.7 and the target 1,388; a float would put floor(100 x 0.29) at 28.
#}
{% macro doel_uit_regel(regel, basis_aanslagen) -%}
    case
        when {{ regel }}.max_aanslagen is not null then {{ regel }}.max_aanslagen
        when {{ regel }}.max_pct_van_basis is not null and {{ basis_aanslagen }} is not null
            then cast(floor(cast({{ basis_aanslagen }} as numeric) * {{ regel }}.max_pct_van_basis / 100) as integer)
    end
{%- endmacro %}
