-- One row per action of $days with the delivery context its channel needs: the customer's address
-- and name from the CRM, joined on the action's own customer_id (never on ticket or model text),
-- and the ticket's subject and urgency.
SELECT
    o.action_id,
    c.email AS customer_email,
    c.name AS customer_name,
    r.subject AS ticket_subject,
    t.urgency
FROM outbox AS o
LEFT JOIN customers AS c ON c.customer_id = json_extract_string(o.payload, '$.customer_id')
LEFT JOIN raw_tickets AS r ON r.ticket_id = o.ticket_id AND r.created_date = o.created_date
LEFT JOIN ticket_outcomes AS t ON t.ticket_id = o.ticket_id AND t.created_date = o.created_date
WHERE list_contains($days, o.created_date)
