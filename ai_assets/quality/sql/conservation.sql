-- Every raw ticket of $days is in exactly one of the outcome tables (the union registered as
-- `outcomes`), once, and nothing else is. A day counts once its step has run: raw tickets of days
-- not processed yet are not "missing".
WITH outcomes AS (
    SELECT ticket_id, created_date FROM outcome_rows WHERE list_contains($days, created_date)
),
done_days AS (SELECT DISTINCT created_date FROM outcomes),
raw AS (
    SELECT ticket_id, created_date
    FROM raw_tickets
    WHERE list_contains($days, created_date) AND created_date IN (SELECT created_date FROM done_days)
)
SELECT
    (SELECT count(*) FROM raw) AS raw_rows,
    (SELECT count(*) FROM outcomes) AS outcome_rows,
    (SELECT count(*) FROM raw ANTI JOIN outcomes USING (ticket_id, created_date)) AS missing,
    (SELECT count(*) FROM outcomes ANTI JOIN raw USING (ticket_id, created_date)) AS orphans,
    (
        SELECT count(*)
        FROM (SELECT 1 FROM outcomes GROUP BY ticket_id, created_date HAVING count(*) > 1)
    ) AS doubled
