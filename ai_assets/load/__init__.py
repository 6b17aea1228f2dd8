"""Load: delivery of outcomes (dbt marts over the enriched tables)."""
