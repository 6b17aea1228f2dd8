-- Per ticket of $days: the customer's CRM tier and region, and up to $history_limit earlier
-- tickets of the customer, newest first, with their triage outcome.
WITH days_tickets AS (
    SELECT ticket_id, created_date, customer_id, created_at
    FROM raw_tickets
    WHERE list_contains($days, created_date)
),
earlier AS (
    SELECT
        d.ticket_id,
        d.created_date,
        p.created_at AS previous_at,
        {
            'ticket_id': p.ticket_id,
            'created_at': p.created_at,
            'subject': p.subject,
            'category': t.category,
            'urgency': t.urgency
        } AS previous
    FROM days_tickets AS d
    JOIN raw_tickets AS p ON p.customer_id = d.customer_id AND p.created_at < d.created_at
    LEFT JOIN ticket_triage AS t ON t.ticket_id = p.ticket_id AND t.created_date = p.created_date
),
history AS (
    SELECT
        ticket_id,
        created_date,
        count(*) AS previous_ticket_count,
        list(previous ORDER BY previous_at DESC)[1:$history_limit] AS history
    FROM earlier
    GROUP BY ticket_id, created_date
)
SELECT
    d.ticket_id,
    d.created_date,
    d.customer_id,
    c.tier AS customer_tier,
    c.region AS customer_region,
    coalesce(h.previous_ticket_count, 0) AS previous_ticket_count,
    coalesce(h.history, []) AS history
FROM days_tickets AS d
LEFT JOIN customers AS c USING (customer_id)
LEFT JOIN history AS h USING (ticket_id, created_date)
