"""dbt marts over the warehouse, as Dagster assets wired to their upstream tables.

Nothing here runs at import: `build_dbt_marts` (called when the definitions are built) parses
the project when its manifest is missing or older than a model, and the asset writes the dbt
profile that points at the run's warehouse just before it builds.
"""

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from ai_assets.quality.tables import TABLES
from ai_assets.warehouse.contract import create_missing
from ai_assets.warehouse.locking import warehouse_lock

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# The dbt installed beside this Python: found without an activated virtualenv (cron, IDEs,
# `.venv/bin/ai-assets`), where dagster-dbt on its own would look for `dbt` on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE)


def _manifest_is_stale(project: DbtProject) -> bool:
    """No manifest yet, or a model, test or config edited since it was parsed."""
    if not project.manifest_path.exists():
        return True
    parsed = project.manifest_path.stat().st_mtime
    sources = [p for folder in ("models", "tests") for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > parsed for p in [*sources, DBT_PROJECT_DIR / "dbt_project.yml"])


def prepared_project() -> DbtProject:
    """The dbt project with an up-to-date manifest (parsed here when stale), so a fresh clone or an
    edited model loads without a separate build step."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if _manifest_is_stale(project):
        dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def write_profile(profiles_dir: Path, warehouse: Path) -> Path:
    """A dbt profile pointing at `warehouse` (JSON is YAML), written where the run can read it."""
    profiles_dir.mkdir(parents=True, exist_ok=True)
    output = {"type": "duckdb", "path": str(warehouse.resolve()), "schema": "main", "threads": 1}
    profile = {"ai_assets": {"target": "dev", "outputs": {"dev": output}}}
    (profiles_dir / "profiles.yml").write_text(json.dumps(profile, indent=2))
    return profiles_dir


class LoadGroupTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "load"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        # Marts follow their parents: a new day of triage rebuilds them without a schedule of their own.
        return dg.AutomationCondition.eager()


def build_dbt_marts() -> dg.AssetsDefinition:
    project = prepared_project()

    # One pool for every run's dbt build: builds rewrite the same marts, so a second one at the same
    # time would only wait for the warehouse lock.
    @dbt_assets(
        manifest=project.manifest_path, project=project, dagster_dbt_translator=LoadGroupTranslator(), pool="dbt_build"
    )
    def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource):
        """Builds and tests the staging views and marts (`dbt build`)."""
        warehouse = Path(duckdb.database)
        profiles_dir = write_profile(warehouse.parent / "dbt_profile", warehouse)
        # A source no run has written yet (the evaluations before eval_job, the days before the first)
        # is created empty from its contract: its marts build empty instead of failing the others.
        with duckdb.get_connection() as conn:
            create_missing(conn, TABLES)
        # dbt writes the warehouse from its own process for the whole build: hold the write lock.
        with warehouse_lock(duckdb.database):
            yield from dbt.cli(["build", "--profiles-dir", str(profiles_dir)], context=context).stream()

    return dbt_marts
