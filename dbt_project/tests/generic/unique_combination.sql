{% test unique_combination(model, columns) %}
-- A combination of columns is unique (like dbt_utils' test, without a package download).
select {{ columns | join(', ') }}
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
