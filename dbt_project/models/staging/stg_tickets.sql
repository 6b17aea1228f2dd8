-- One row per raw ticket with its triage outcome (triaged, failed, or not yet triaged).
select
    r.ticket_id,
    r.created_date,
    r.created_at,
    r.channel,
    r.customer_id,
    coalesce(c.tier, 'unknown') as customer_tier,
    t.category,
    t.urgency,
    t.sentiment,
    t.language,
    t.confidence,
    t.model,
    t.prompt_version,
    coalesce(t.cost_usd, 0) as cost_usd,
    coalesce(t.prompt_tokens, 0) + coalesce(t.completion_tokens, 0) as llm_tokens,
    case
        when t.ticket_id is not null then 'triaged'
        when f.ticket_id is not null then 'failed'
        else 'pending'
    end as triage_status
from {{ source('warehouse', 'raw_tickets') }} as r
left join {{ source('warehouse', 'ticket_triage') }} as t using (ticket_id, created_date)
left join {{ source('warehouse', 'ticket_triage_failures') }} as f using (ticket_id, created_date)
left join {{ source('warehouse', 'customers') }} as c using (customer_id)
