"""The jobs (one per feature set, selected by group), the schedules and the sensors that start them."""

import dagster as dg

from ai_assets.automation.jobs import JOBS
from ai_assets.automation.schedules import build_daily_tickets_schedule, build_outbox_retry_schedule
from ai_assets.automation.sensors import build_kb_reviews_sensor, build_sensors
from ai_assets.components.loading import current
from ai_assets.extract.sources import build_landing_observer
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def automation() -> dg.Definitions:
    settings = current().settings
    project = settings.project
    by_name = {job.name: job for job in JOBS}
    landing = project.landing(settings.warehouse.storage_endpoint_url)
    retries = build_outbox_retry_schedule(
        by_name["outbox_retry_job"], settings.outbox.days_to_retry, Daily.from_settings(project).partitions_def
    )
    return dg.Definitions(
        jobs=JOBS,
        schedules=[build_daily_tickets_schedule(by_name["daily_tickets_job"]), retries],
        sensors=[
            *build_sensors(project, settings.warehouse, landing),
            build_kb_reviews_sensor(landing),
            build_landing_observer(landing),
        ],
    )
