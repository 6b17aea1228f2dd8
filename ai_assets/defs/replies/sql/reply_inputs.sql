-- Everything the reply loop needs per triaged ticket of $days; history and chunks rendered as text.
SELECT
    r.ticket_id,
    r.created_date,
    r.subject,
    r.body,
    t.language,
    -- A template reply quotes the top chunk only when its article is about the triage's category.
    t.category,
    (SELECT k.category FROM kb_chunks AS k WHERE k.chunk_id = c.chunk_ids[1]) AS top_chunk_category,
    c.top_score,
    -- The CRM's name, for a template reply's greeting (never shown to an LLM).
    cu.name AS customer_name,
    coalesce(c.chunk_ids, []) AS retrieved_chunk_ids,
    -- No investigation (the step was not run for this day): the reply has no facts, and says so.
    coalesce(i.facts, '(none gathered)') AS facts,
    i.order_status,
    'tier ' || coalesce(c.customer_tier, 'unknown') || ', ' || c.previous_ticket_count || ' earlier tickets'
    || coalesce(
        ': ' || list_aggregate(
            list_transform(
                c.history,
                h -> h.created_at::DATE || ' ' || coalesce(h.category, 'untriaged') || ' - '
                || h.subject
            ),
            'string_agg',
            '; '
        ),
        ''
    ) AS customer_context,
    coalesce(
        (
            SELECT string_agg('[' || k.chunk_id || '] ' || k.text, chr(10) || chr(10) ORDER BY u.rank)
            FROM unnest(c.chunk_ids) WITH ORDINALITY AS u (chunk_id, rank)
            JOIN kb_chunks AS k ON k.chunk_id = u.chunk_id
        ),
        '(no knowledge-base excerpt found)'
    ) AS knowledge
FROM raw_tickets AS r
JOIN ticket_triage AS t USING (ticket_id, created_date)
JOIN ticket_context AS c USING (ticket_id, created_date)
LEFT JOIN ticket_investigations AS i USING (ticket_id, created_date)
LEFT JOIN customers AS cu ON cu.customer_id = r.customer_id
WHERE list_contains($days, r.created_date)
