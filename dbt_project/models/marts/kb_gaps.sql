-- One row per ticket category: how well the knowledge base covers it. Low retrieval scores mean
-- customers ask about things no article answers: the articles to write next.
select
    coalesce(t.category, 'unknown') as category,
    count(*) as tickets,
    round(avg(c.top_score), 4) as avg_top_score,
    round(min(c.top_score), 4) as min_top_score,
    count(*) filter (where c.top_score < {{ var('kb_gap_score_threshold') }} or c.top_score is null) as poorly_covered_tickets,
    round(avg(case when c.top_score < {{ var('kb_gap_score_threshold') }} or c.top_score is null then 1.0 else 0.0 end), 4) as poorly_covered_share,
    mode(c.article_ids[1]) as most_retrieved_article,
    avg(case when c.top_score < {{ var('kb_gap_score_threshold') }} or c.top_score is null then 1.0 else 0.0 end)
        > {{ var('kb_gap_share') }} as is_gap
from {{ source('warehouse', 'ticket_context') }} as c
left join {{ source('warehouse', 'ticket_triage') }} as t using (ticket_id, created_date)
group by all
