-- Per decided ticket ($ticket_ids with $days: its day, or null for every day of that id), the days
-- of raw_tickets it names; an empty list means the decision names no ticket.
WITH decided AS (
    SELECT DISTINCT unnest($ticket_ids) AS ticket_id, unnest($days)::DATE AS created_date
)
SELECT
    d.ticket_id,
    d.created_date,
    coalesce(list(DISTINCT r.created_date::VARCHAR) FILTER (WHERE r.created_date IS NOT NULL), []) AS days
FROM decided AS d
LEFT JOIN raw_tickets AS r
    ON r.ticket_id = d.ticket_id AND (d.created_date IS NULL OR d.created_date = r.created_date)
GROUP BY ALL
