-- The material of the knowledge-base article proposals: per category kb_gaps flags, its poorly covered
-- tickets (best chunk below $threshold, or none; the mart's own test) whose reply a reviewer approved
-- or edited, the worst covered first, at most $max_tickets of them. Category as the mart takes it.
SELECT
    coalesce(t.category, 'unknown') AS category,
    c.created_date::VARCHAR || '/' || c.ticket_id AS ticket_key,
    c.top_score,
    r.subject,
    r.body,
    o.final_reply
FROM ticket_context AS c
LEFT JOIN ticket_triage AS t ON t.ticket_id = c.ticket_id AND t.created_date = c.created_date
JOIN kb_gaps AS g ON g.category = coalesce(t.category, 'unknown')
JOIN raw_tickets AS r ON r.ticket_id = c.ticket_id AND r.created_date = c.created_date
JOIN ticket_outcomes AS o ON o.ticket_id = c.ticket_id AND o.created_date = c.created_date
WHERE
    g.is_gap
    AND (c.top_score < $threshold OR c.top_score IS NULL)
    AND o.status IN ('human_approved', 'human_edited')
    AND o.final_reply IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY g.category ORDER BY c.top_score NULLS FIRST, ticket_key) <= $max_tickets
ORDER BY g.category, c.top_score NULLS FIRST, ticket_key
