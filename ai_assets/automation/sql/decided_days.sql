-- Per decided ticket ($ticket_ids with $days: its day, or null), the days of raw_tickets it names;
-- an empty list means the decision names no ticket. A decision without a day names its id's day only
-- when the id is on one day (as in routing.sql); otherwise it decides nothing and names no day.
WITH decided AS (
    SELECT DISTINCT unnest($ticket_ids) AS ticket_id, unnest($days)::DATE AS created_date
),
days_of_id AS (
    SELECT ticket_id, count(*) AS days FROM raw_tickets GROUP BY 1
)
SELECT
    d.ticket_id,
    d.created_date,
    coalesce(list(DISTINCT r.created_date::VARCHAR) FILTER (WHERE r.created_date IS NOT NULL), []) AS days
FROM decided AS d
LEFT JOIN days_of_id AS n USING (ticket_id)
LEFT JOIN raw_tickets AS r
    ON r.ticket_id = d.ticket_id AND (d.created_date = r.created_date OR (d.created_date IS NULL AND n.days = 1))
GROUP BY ALL
