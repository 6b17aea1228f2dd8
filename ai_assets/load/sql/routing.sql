-- One row per ticket of $days with its draft, its review reasons (empty: auto-approved) and the
-- decision that counts: the latest one naming its id and day, or its id alone when no other day has
-- that id (a ticket is its day and id: a decision without the day must not decide, nor send its
-- edited text to, another day's ticket, maybe another customer's).
WITH ids_of_one_day AS (
    SELECT ticket_id FROM raw_tickets GROUP BY ticket_id HAVING count(*) = 1
),
decisions AS (
    SELECT
        r.ticket_id,
        r.created_date,
        arg_max(
            {
                'decision': rd.decision,
                'edited_text': rd.edited_text,
                'reviewer': rd.reviewer,
                'decided_at': rd.decided_at
            },
            (rd.decided_at, rd.source_file, rd.source_line)
        ) AS latest
    FROM raw_tickets AS r
    JOIN review_decisions AS rd
        ON rd.ticket_id = r.ticket_id
        AND (
            rd.created_date = r.created_date
            OR (rd.created_date IS NULL AND r.ticket_id IN (SELECT ticket_id FROM ids_of_one_day))
        )
    WHERE list_contains($days, r.created_date)
    GROUP BY r.ticket_id, r.created_date
)
SELECT
    r.ticket_id,
    r.created_date,
    r.customer_id,
    r.subject,
    t.category,
    t.urgency,
    t.sentiment,
    t.confidence,
    r.body,
    c.customer_tier,
    d.reply AS draft_reply,
    list_filter(
        [
            CASE WHEN t.urgency = 'critical' THEN 'critical urgency' END,
            CASE
                WHEN c.customer_tier = 'enterprise' AND t.sentiment = 'negative'
                    THEN 'enterprise customer, negative sentiment'
            END,
            CASE
                WHEN t.confidence < $min_confidence
                    THEN 'low triage confidence (' || round(t.confidence, 2) || ')'
            END,
            CASE WHEN d.outcome = 'needs_human' THEN d.reason END
        ],
        x -> x IS NOT NULL
    ) AS reasons,
    rd.latest.decision AS decision,
    rd.latest.edited_text AS edited_text,
    rd.latest.reviewer AS reviewer,
    rd.latest.decided_at AS decided_at
FROM raw_tickets AS r
JOIN reply_drafts AS d USING (ticket_id, created_date)
LEFT JOIN ticket_triage AS t USING (ticket_id, created_date)
LEFT JOIN ticket_context AS c USING (ticket_id, created_date)
LEFT JOIN decisions AS rd USING (ticket_id, created_date)
WHERE list_contains($days, r.created_date)
