-- One row per day and category: volume, urgency mix, negative share and LLM cost per ticket.
-- Failed and pending triage rows are grouped under their status so the day's volume stays whole.
select
    created_date,
    coalesce(category, 'triage_' || triage_status) as category,
    count(*) as tickets,
    count(*) filter (where urgency = 'critical') as critical_tickets,
    count(*) filter (where urgency = 'high') as high_tickets,
    count(*) filter (where urgency = 'medium') as medium_tickets,
    count(*) filter (where urgency = 'low') as low_tickets,
    round(avg(case when urgency in ('high', 'critical') then 1.0 else 0.0 end), 4) as high_or_critical_share,
    round(avg(case when sentiment = 'negative' then 1.0 else 0.0 end), 4) as negative_share,
    round(avg(confidence), 4) as avg_confidence,
    sum(llm_tokens) as llm_tokens,
    sum(cost_usd) as llm_cost_usd,
    sum(cost_usd) / count(*) as llm_cost_per_ticket_usd
from {{ ref('stg_tickets') }}
group by all
