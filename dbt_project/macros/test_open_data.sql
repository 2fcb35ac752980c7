{#
    Generic data tests for the open data (models/open_data).

    onderdrukt_leeg: a suppressed count is empty and an empty count is suppressed (column `onderdrukt`).
        columns:
          - name: aanslagen
            data_tests:
              - onderdrukt_leeg

    geen_kleine_aantallen: no published count lies between 1 and 4 (municipality-level counts).
        columns:
          - name: aanslagen
            data_tests:
              - geen_kleine_aantallen
#}
{% test onderdrukt_leeg(model, column_name) %}
    select *
    from {{ model }}
    where ({{ column_name }} is null) is distinct from onderdrukt
{% endtest %}

{% test geen_kleine_aantallen(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} between 1 and 4
{% endtest %}
