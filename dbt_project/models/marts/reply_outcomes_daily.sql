-- One row per day and category: how replies ended (auto-approved, reviewed by a human, pending),
-- loop effort (rounds) and reply cost. Tickets without triage count under 'triage_failed'.
select
    o.created_date,
    coalesce(o.category, 'triage_failed') as category,
    count(*) as tickets,
    count(*) filter (where o.status = 'auto_approved') as auto_approved,
    count(*) filter (where o.route = 'review') as sent_to_review,
    count(*) filter (where o.status = 'pending_review') as pending_review,
    count(*) filter (where o.status = 'human_approved') as human_approved,
    count(*) filter (where o.status = 'human_edited') as human_edited,
    count(*) filter (where o.status = 'rejected') as rejected,
    round(avg(case when o.status = 'auto_approved' then 1.0 else 0.0 end), 4) as auto_approval_rate,
    round(avg(case when o.route = 'review' then 1.0 else 0.0 end), 4) as human_review_rate,
    round(avg(d.rounds), 2) as avg_rounds,
    sum(d.prompt_tokens + d.completion_tokens) as reply_tokens,
    sum(d.cost_usd) as reply_cost_usd
from {{ source('warehouse', 'ticket_outcomes') }} as o
join {{ source('warehouse', 'reply_drafts') }} as d using (ticket_id, created_date)
group by all
