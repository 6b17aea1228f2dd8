-- Every ticket of $days with what its investigation reads: the ticket, its triage (null when the
-- triage failed) and its customer's memory from ticket_context.
SELECT
    r.ticket_id,
    r.created_date,
    r.customer_id,
    r.subject,
    r.body,
    t.category,
    t.urgency,
    t.order_id,
    coalesce(c.history, []) AS history
FROM raw_tickets AS r
LEFT JOIN ticket_triage AS t USING (ticket_id, created_date)
LEFT JOIN ticket_context AS c USING (ticket_id, created_date)
WHERE list_contains($days, r.created_date)
ORDER BY r.created_date, r.ticket_id
