"""dbt marts over the warehouse, as Dagster assets wired to their upstream tables."""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from ai_assets.warehouse.locking import warehouse_lock

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

# dagster-dbt (its resource and its project preparer) finds `dbt` on PATH. Put the directory of
# this Python first, so the dbt installed beside it is found without an activated virtualenv
# (`.venv/bin/ai-assets`, cron, IDEs).
_python_bin = str(Path(sys.executable).parent)
if _python_bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_python_bin, os.environ.get("PATH", "")])

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_is_stale() -> bool:
    """No manifest yet, or a model, test or config edited since it was parsed."""
    if not dbt_project.manifest_path.exists():
        return True
    parsed = dbt_project.manifest_path.stat().st_mtime
    sources = [p for folder in ("models", "tests") for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > parsed for p in [*sources, DBT_PROJECT_DIR / "dbt_project.yml"])


# `dagster dev` re-parses on every reload; everywhere else the manifest is made here when missing
# or out of date, so a fresh clone (or an edited model) loads without a separate build step.
dbt_project.prepare_if_dev()
if _manifest_is_stale():
    dbt_project.preparer.prepare(dbt_project)


class LoadGroupTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "load"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        # Marts follow their parents: a new day of triage rebuilds them without a schedule of their own.
        return dg.AutomationCondition.eager()


# One pool for every run's dbt build: builds rewrite the same marts, so a second one at the same
# time would only wait for the warehouse lock.
@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=LoadGroupTranslator(),
    pool="dbt_build",
)
def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource):
    """Builds and tests the staging views and marts (`dbt build`)."""
    # dbt runs in a subprocess that reads the warehouse path from its profile's env_var.
    os.environ["AI_ASSETS_WAREHOUSE_PATH"] = str(Path(duckdb.database).resolve())
    # dbt writes the warehouse from its own process for the whole build: hold the write lock.
    with warehouse_lock(duckdb.database):
        yield from dbt.cli(["build"], context=context).stream()
