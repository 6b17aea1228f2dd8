"""The one `dg.Definitions` of ai_assets: the `dg` defs folder (ai_assets/defs/) merged with the
definitions of the layered packages that have not moved there yet.

Importing this module reads no setting, writes no file and runs nothing: Dagster (`dagster dev`,
`dg dev`, `dg check defs`) calls `defs` when it loads the code location.
"""

from pathlib import Path

import dagster as dg

from ai_assets.automation.jobs import JOBS
from ai_assets.automation.schedules import build_daily_tickets_schedule, build_outbox_retry_schedule
from ai_assets.automation.sensors import build_kb_reviews_sensor, build_sensors
from ai_assets.components.loading import loading
from ai_assets.config import Settings, load_settings
from ai_assets.extract.assets import (
    build_orders_asset,
    build_raw_tickets_asset,
    customers,
    kb_articles,
    kb_chunks,
    kb_review_decisions,
    review_decisions,
    ticket_labels,
)
from ai_assets.extract.sources import LANDING_SOURCES, build_landing_observer, landing_folders
from ai_assets.load.assets import build_outbox, build_outbox_deliveries, build_routing, kb_publications
from ai_assets.load.dbt import build_dbt_marts, dbt_resource, dbt_var
from ai_assets.quality.checks import build_asset_checks
from ai_assets.resources import DataDirResource
from ai_assets.transform.eval_assets import build_triage_eval
from ai_assets.transform.investigation_assets import build_ticket_investigations, investigation_task, tools_version
from ai_assets.transform.kb_proposal_assets import build_kb_article_proposals
from ai_assets.transform.kb_proposals import MAX_TICKETS, kb_article_task
from ai_assets.transform.reply import reply_tasks
from ai_assets.transform.reply_assets import build_reply_drafts
from ai_assets.transform.reply_eval_assets import build_reply_eval
from ai_assets.transform.retrieval_assets import build_kb_embeddings, build_ticket_context
from ai_assets.transform.triage import triage_task
from ai_assets.transform.triage_assets import build_ticket_triage
from ai_assets.transform.triage_cascade import CascadeSettings
from ai_assets.warehouse.partitions import Daily

# in_process (default): one process per run, the cheapest on a small machine (each step process
# re-imports everything and starts its own embedded model). multiprocess: steps in parallel
# processes; each writes its own files (warehouse/storage.py).
EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "landing": DataDirResource(data_dir=str(settings.data_dir)),
        "warehouse": settings.warehouse,
        "dbt": dbt_resource(),
        "embeddings": settings.embeddings,
        "outbox_sink": settings.outbox,
        "llm": settings.llm,
        "tools": settings.tools,
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    project, llm, embeddings = settings.project, settings.llm, settings.embeddings
    daily = Daily.from_settings(project)
    raw_tickets = build_raw_tickets_asset(daily)
    marts = build_dbt_marts()
    by_name = {job.name: job for job in JOBS}
    triage = triage_task(project.prompts_dir, project.triage_batch_size)
    # With blocking on, ticket_triage writes only once its model and prompt meet the eval targets.
    gate = project.eval_targets if project.eval_blocking else None
    cascade = CascadeSettings.from_settings(project)
    with loading(settings):  # the components see these settings, not a second read of the environment
        declared = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    landing = [source.spec() for source in LANDING_SOURCES]
    layered = dg.Definitions(
        assets=[
            *landing,
            raw_tickets,
            build_orders_asset(daily),
            customers,
            kb_articles,
            kb_chunks,
            build_ticket_triage(triage, llm.chat_model, daily, cascade, eval_targets=gate),
            ticket_labels,
            build_triage_eval(triage, llm.chat_model, cascade, project.eval_targets, project.eval_blocking),
            build_reply_eval(embeddings.model),
            build_kb_embeddings(embeddings.model),
            build_ticket_context(embeddings.model, daily),
            build_ticket_investigations(
                investigation_task(project.prompts_dir),
                tools_version(settings.tools.orders_api_url, settings.tools.max_calls, settings.tools.calling),
                daily,
            ),
            build_reply_drafts(
                reply_tasks(project.prompts_dir),
                llm.chat_model,
                project.reply_max_refinements,
                daily,
                embeddings.model,
                embeddings.grounding_threshold(),
            ),
            review_decisions,
            build_routing(project.review_min_confidence, daily),
            build_outbox(daily),
            build_outbox_deliveries(daily),
            marts,
            kb_review_decisions,
            build_kb_article_proposals(
                kb_article_task(project.prompts_dir),
                llm.chat_model,
                float(dbt_var("kb_gap_score_threshold")),
                MAX_TICKETS,
            ),
            kb_publications,
        ],
        asset_checks=build_asset_checks(daily.partitions_def),
        jobs=JOBS,
        schedules=[
            build_daily_tickets_schedule(by_name["daily_tickets_job"]),
            build_outbox_retry_schedule(
                by_name["outbox_retry_job"], settings.outbox.days_to_retry, daily.partitions_def
            ),
        ],
        sensors=[
            *build_sensors(project, settings.warehouse),
            build_kb_reviews_sensor(project.landing_dir),
            build_landing_observer(project.landing_dir, landing_folders([*landing, *(declared.assets or [])])),
            dg.AutomationConditionSensorDefinition(
                "marts_automation_sensor",
                target=dg.AssetSelection.assets(marts),
                # Running from the start: marts built after every UI or schedule run, nothing to switch on.
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=60,
                description="Rebuilds the dbt marts once a run that updated one of their parents is over "
                "(load/dbt.py: MARTS_FOLLOW_PARENTS).",
            ),
        ],
        resources=build_resources(settings),
        executor=EXECUTORS[project.executor],
    )
    return dg.Definitions.merge(layered, declared)


@dg.definitions
def defs() -> dg.Definitions:
    """What `dg dev`, `dagster dev` and `dagster job ...` load (pyproject.toml's [tool.dg] and [tool.dagster])."""
    return build_definitions(load_settings())
