{#
    The contract's rule for the version of a record that counts: the newest peildatum; for the same peildatum
    the file that arrived later, then the higher file id. `bron`: a CTE with peildatum, aangekomen_op and
    file_id; `sleutel`: the record's key columns. The staging models of all three feeds keep this one version.
#}
{% macro nieuwste_versie(bron, sleutel) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ sleutel | join(', ') }}
                order by peildatum desc, aangekomen_op desc, file_id desc
            ) as versie_rang
        from {{ bron }}
    ) as gerangschikt
    where versie_rang = 1
{%- endmacro %}
