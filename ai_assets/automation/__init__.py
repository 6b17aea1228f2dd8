"""Automation: partitions and jobs (schedules and sensors come with the orchestration work)."""
