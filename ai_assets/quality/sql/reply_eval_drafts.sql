-- Every drafted reply: whether it cites only chunks retrieved for its ticket, and, for a reply the
-- loop approved, the reviewer's latest decision on it (a decision without created_date applies to
-- its ticket id on every day).
with drafted as (
    select d.ticket_id, d.created_date, d.outcome, d.cited_chunk_ids, coalesce(c.chunk_ids, []) as retrieved
    from reply_drafts as d
    left join ticket_context as c using (ticket_id, created_date)
    where d.reply is not null
),
decided as (
    select d.*, r.decision
    from drafted as d
    left join review_decisions as r
        on r.is_latest and r.ticket_id = d.ticket_id and (r.created_date is null or r.created_date = d.created_date)
    qualify row_number() over (partition by d.ticket_id, d.created_date order by r.decided_at desc nulls last) = 1
)
select
    count(*) as drafts,
    avg(case when len(cited_chunk_ids) > 0 and list_has_all(retrieved, cited_chunk_ids) then 1.0 else 0.0 end)
        as only_retrieved_share,
    count(*) filter (where outcome = 'approved' and decision is not null) as approved_seen_by_human,
    count(*) filter (where outcome = 'approved' and decision in ('reject', 'edit')) as approved_overruled
from decided
