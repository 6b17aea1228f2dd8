-- Every source row of $days is in exactly one of the outcome tables, once, and nothing else is.
-- The caller registers `source_rows` and `outcome_rows` as (row_key, created_date): a ticket's id,
-- or a declared step's key columns. A day counts once its step has run: source rows of days not
-- processed yet are not "missing".
WITH outcomes AS (
    SELECT row_key, created_date FROM outcome_rows WHERE list_contains($days, created_date)
),
done_days AS (SELECT DISTINCT created_date FROM outcomes),
raw AS (
    SELECT row_key, created_date
    FROM source_rows
    WHERE list_contains($days, created_date) AND created_date IN (SELECT created_date FROM done_days)
)
SELECT
    (SELECT count(*) FROM raw) AS raw_rows,
    (SELECT count(*) FROM outcomes) AS outcome_rows,
    (SELECT count(*) FROM raw ANTI JOIN outcomes USING (row_key, created_date)) AS missing,
    (SELECT count(*) FROM outcomes ANTI JOIN raw USING (row_key, created_date)) AS orphans,
    (
        SELECT count(*)
        FROM (SELECT 1 FROM outcomes GROUP BY row_key, created_date HAVING count(*) > 1)
    ) AS doubled
