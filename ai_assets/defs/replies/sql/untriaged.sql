-- Tickets of $days whose triage failed: they go to a human without a draft.
SELECT r.ticket_id, r.created_date, 'triage failed: ' || f.reason AS reason
FROM raw_tickets AS r
JOIN ticket_triage_failures AS f USING (ticket_id, created_date)
WHERE list_contains($days, r.created_date)
