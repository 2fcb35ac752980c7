{# The counts per group that int_politie__aanslagen_per_dag keeps, over incident versions aliased `v`. #}
{% macro aanslag_tellingen(v='v') -%}
    count(*) as aanslagen,
    count(*) filter (where {{ v }}.uitkomst = 'afgegaan') as afgegaan,
    count(*) filter (where {{ v }}.uitkomst = 'poging') as pogingen,
    count(*) filter (where {{ v }}.uitkomst = 'aangetroffen') as aangetroffen,
    count(*) filter (where {{ v }}.doelwit = 'woning') as doelwit_woning,
    count(*) filter (where {{ v }}.doelwit = 'bedrijf') as doelwit_bedrijf,
    count(*) filter (where {{ v }}.doelwit = 'voertuig') as doelwit_voertuig,
    count(*) filter (where {{ v }}.doelwit = 'geldautomaat') as doelwit_geldautomaat,
    count(*) filter (where {{ v }}.doelwit = 'overig') as doelwit_overig,
    count(*) filter (where {{ v }}.explosief = 'zwaar_vuurwerk') as explosief_zwaar_vuurwerk,
    coalesce(sum({{ v }}.gewonden), 0) as gewonden,
    coalesce(sum({{ v }}.doden), 0) as doden
{%- endmacro %}
