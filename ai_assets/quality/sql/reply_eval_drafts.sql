-- Every drafted reply: whether it cites only chunks retrieved for its ticket, and, for a reply the
-- loop approved, the reviewer's latest decision on it (a decision without created_date only when its
-- id is on one day, as in routing.sql: another day's ticket with that id may be another customer's).
with ids_of_one_day as (
    select ticket_id from raw_tickets group by ticket_id having count(*) = 1
),
drafted as (
    select
        d.ticket_id, d.created_date, d.outcome, d.cited_chunk_ids, coalesce(c.chunk_ids, []) as retrieved,
        o.ticket_id is not null as id_of_one_day
    from reply_drafts as d
    left join ticket_context as c using (ticket_id, created_date)
    left join ids_of_one_day as o using (ticket_id)
    where d.reply is not null
),
decided as (
    select d.* exclude (id_of_one_day), r.decision
    from drafted as d
    left join review_decisions as r
        on r.is_latest and r.ticket_id = d.ticket_id
        and (
            r.created_date = d.created_date
            or (r.created_date is null and d.id_of_one_day)
        )
    qualify row_number() over (partition by d.ticket_id, d.created_date order by r.decided_at desc nulls last) = 1
)
select
    count(*) as drafts,
    avg(case when len(cited_chunk_ids) > 0 and list_has_all(retrieved, cited_chunk_ids) then 1.0 else 0.0 end)
        as only_retrieved_share,
    count(*) filter (where outcome = 'approved' and decision is not null) as approved_seen_by_human,
    count(*) filter (where outcome = 'approved' and decision in ('reject', 'edit')) as approved_overruled
from decided
