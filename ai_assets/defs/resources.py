"""The resources every feature uses, and the executor, from the settings of the load."""

import dagster as dg

from ai_assets.cluster.celery import celery_executor
from ai_assets.components.loading import current
from ai_assets.load.dbt import dbt_resource
from ai_assets.resources import DataDirResource

# in_process (default): one process per run, the cheapest on a small machine (each step process
# re-imports everything and starts its own embedded model). multiprocess: steps in parallel
# processes. celery: steps on Celery workers, on any machine (cluster/celery.py).
EXECUTORS = {"in_process": lambda: dg.in_process_executor, "multiprocess": lambda: dg.multiprocess_executor}
EXECUTORS["celery"] = celery_executor


@dg.definitions
def resources() -> dg.Definitions:
    settings = current().settings
    return dg.Definitions(
        resources={
            "landing": DataDirResource(
                data_dir=str(settings.project.data_dir),
                landing_url=settings.project.landing_url,
                endpoint_url=settings.warehouse.storage_endpoint_url,
            ),
            "warehouse": settings.warehouse,
            "dbt": dbt_resource(),
            "embeddings": settings.embeddings,
            "outbox_sink": settings.outbox,
            "llm": settings.llm,
            "small_llm": settings.small_llm,
            "tools": settings.tools,
        },
        executor=EXECUTORS[settings.project.executor](),
    )
