{#
    Generic data test: the combination of `kolommen` is unique in the model (a composite key).
    Usage (model level):
        data_tests:
          - unieke_combinatie:
              arguments:
                kolommen: [verzekeraar_code, claim_id]
#}
{% test unieke_combinatie(model, kolommen) %}
    select {{ kolommen | join(', ') }}, count(*) as aantal
    from {{ model }}
    group by {{ kolommen | join(', ') }}
    having count(*) > 1
{% endtest %}
