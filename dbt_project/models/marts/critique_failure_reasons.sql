-- One row per category and problem the critic or the rule checks raised on a failed round, with
-- how often: what the reply loop most often gets wrong.
with problems as (
    select r.ticket_id, r.created_date, unnest(r.problems) as problem
    from {{ source('warehouse', 'reply_rounds') }} as r
    where r.verdict = 'fail'
)
select
    coalesce(t.category, 'unknown') as category,
    lower(trim(p.problem)) as problem,
    count(*) as failed_rounds,
    count(distinct p.ticket_id) as tickets
from problems as p
left join {{ source('warehouse', 'ticket_triage') }} as t using (ticket_id, created_date)
group by all
