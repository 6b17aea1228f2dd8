"""dbt marts over the warehouse, as Dagster assets wired to their upstream tables.

Nothing here runs at import: `build_dbt_marts` (called when the definitions are built) parses
the project when its manifest is missing or older than a model, and the asset writes the dbt
profile just before it builds. dbt reads the tables through the catalog's views (attached
read-only), builds in a DuckDB file of its own, and the asset then publishes each mart as a file
in the storage, so no reader of the warehouse ever holds a lock dbt needs.
"""

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import yaml
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ai_assets.quality.freshness import FRESHNESS_BY_ASSET
from ai_assets.warehouse.catalog import CATALOG_ALIAS
from ai_assets.warehouse.contract import column_type
from ai_assets.warehouse.resource import WarehouseResource

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


def manifest_dir() -> Path:
    """Where the parsed manifest (and the parse's log) live: the user's cache, one folder per
    checkout, so loading the definitions writes nothing inside the repository."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    checkout = hashlib.sha256(str(DBT_PROJECT_DIR).encode()).hexdigest()[:12]
    return cache / "ai_assets" / f"dbt-{checkout}"


def prepared_project() -> DbtProject:
    """The dbt project with an up-to-date manifest (parsed here when stale), so a fresh clone or an
    edited model loads without a separate build step."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=manifest_dir())
    if _manifest_is_stale(project):
        dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def mart_names() -> list[str]:
    """The models under models/marts: each is published as a file in the storage and a view in the catalog."""
    return sorted(path.stem for path in (DBT_PROJECT_DIR / "models" / "marts").glob("*.sql"))


def dbt_database(warehouse: WarehouseResource) -> Path:
    """dbt's own DuckDB file. Nobody else opens it: dbt needs it for writing for the whole build."""
    return warehouse.catalog.parent / "dbt" / "dbt.duckdb"


def write_profile(profiles_dir: Path, warehouse: WarehouseResource) -> Path:
    """A dbt profile (JSON is YAML) on dbt's own file, with the catalog attached read-only as
    `warehouse` (the sources) and, for a URL root, the filesystem its views read from."""
    profiles_dir.mkdir(parents=True, exist_ok=True)
    output: dict[str, Any] = {
        "type": "duckdb",
        "path": str(dbt_database(warehouse)),
        "schema": "main",
        "threads": 1,
        "attach": [{"path": str(warehouse.catalog), "alias": CATALOG_ALIAS, "read_only": True}],
    }
    storage = warehouse.storage
    if not storage.is_local:
        output["filesystems"] = [{"fs": storage.protocol, **storage.fs_options}]
    profile = {"ai_assets": {"target": "dev", "outputs": {"dev": output}}}
    (profiles_dir / "profiles.yml").write_text(json.dumps(profile, indent=2))
    return profiles_dir


def publish_marts(warehouse: WarehouseResource, names: list[str]) -> dict[str, pl.DataFrame]:
    """Copies the built marts out of dbt's file into the storage, in one commit, and republishes the
    catalog so a mart built for the first time gets its view. Returns the marts published."""
    with duckdb.connect(str(dbt_database(warehouse)), read_only=True) as conn:
        built = {name for (name,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        frames = {name: conn.execute(f"SELECT * FROM main.{name}").pl() for name in names if name in built}
    warehouse.storage.commit({warehouse.storage.whole_file(name): frame for name, frame in frames.items()})
    warehouse.prepare()
    return frames


def column_descriptions(manifest_path: Path) -> dict[str, dict[str, str]]:
    """Per model, its columns' descriptions from the YAML (through the parsed manifest)."""
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return {
        node["name"]: {name: column.get("description", "") for name, column in node["columns"].items()}
        for node in nodes
        if node["resource_type"] == "model"
    }


def mart_metadata(frame: pl.DataFrame, descriptions: Mapping[str, str]) -> dict[str, Any]:
    """What the UI shows for a mart after a build: its row count and its columns as published."""
    columns = [
        dg.TableColumn(name, type=column_type(dtype), description=descriptions.get(name) or None)
        for name, dtype in frame.schema.items()
    ]
    return {"dagster/row_count": frame.height, "dagster/column_schema": dg.TableSchema(columns=columns)}


class MartsTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "marts"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        return MARTS_FOLLOW_PARENTS

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        policy = FRESHNESS_BY_ASSET.get(spec.key.path[-1])
        return spec.replace_attributes(freshness_policy=policy) if policy else spec


# Marts follow their parents: a new day of triage rebuilds them once its run is over, with no
# schedule of their own. Not `eager()`: it waits while any parent partition is missing, and a
# daily parent always has days that never ran, so eager marts never refreshed.
MARTS_FOLLOW_PARENTS = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after any parent updates")


def build_dbt_marts() -> dg.AssetsDefinition:
    project = prepared_project()

    # One pool for every run's dbt build: builds rewrite the same marts in dbt's one file, so a second
    # one at the same time would only wait for it.
    @dbt_assets(
        manifest=project.manifest_path, project=project, dagster_dbt_translator=MartsTranslator(), pool="dbt_build"
    )
    def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        """Builds and tests the staging views and marts (`dbt build`) in dbt's own file, then
        publishes the marts as files beside the tables."""
        profiles_dir = write_profile(warehouse.catalog.parent / "dbt_profile", warehouse)
        dbt_database(warehouse).parent.mkdir(parents=True, exist_ok=True)
        # dbt's file takes one writer: two builds (the pool aside, e.g. a `dbt build` by hand) queue here.
        with warehouse.locked("dbt_build"):
            # Held back until the marts are published, so each model's event carries its row count
            # and columns: dbt keeps its file locked while it runs, so nothing reads a mart sooner.
            # dbt's artifacts and logs beside its file, not in the repository's dbt_project/target.
            target = dbt_database(warehouse).parent / "target"
            build = dbt.cli(["build", "--profiles-dir", str(profiles_dir)], context=context, target_path=target)
            events = list(build.stream())
            published = publish_marts(warehouse, mart_names())
        rows = {name: frame.height for name, frame in published.items()}
        context.log.info(f"Published the marts to {warehouse.storage_root}: {rows}")
        descriptions = column_descriptions(project.manifest_path)
        for event in events:
            if isinstance(event, dg.Output):
                name = context.asset_key_for_output(event.output_name).path[-1]
                if name in published:
                    event = event.with_metadata(
                        {**event.metadata, **mart_metadata(published[name], descriptions[name])}
                    )
            yield event

    return dbt_marts


def dbt_var(name: str) -> object:
    """A var of `dbt_project.yml`, for Python that must agree with the marts (e.g. kb_gap_score_threshold)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    try:
        return project["vars"][name]
    except (KeyError, TypeError):
        raise KeyError(f"dbt_project/dbt_project.yml has no var {name!r} under `vars:`") from None
