{#
    Generic data test: every non-null value is a pseudonym as the contract defines it, in lower case
    (64 hexadecimal characters). Usage: data_tests: [pseudoniem_lower_hex]
#}
{% test pseudoniem_lower_hex(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is not null and {{ column_name }} !~ '^[0-9a-f]{64}$'
{% endtest %}
