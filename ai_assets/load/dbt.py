"""dbt marts over the warehouse, as Dagster assets wired to their upstream tables.

Nothing here runs at import: `build_dbt_marts` (called when the definitions are built) parses
the project when its manifest is missing or older than a model, and the asset writes the dbt
profile just before it builds. dbt reads the tables from the lake and builds its views and marts
into it: each model's swap is one transaction, so a reader sees a mart before or after a build,
never without one.
"""

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import yaml
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ai_assets.automation.instance import DBT_POOL
from ai_assets.cluster.celery import MARTS_QUEUE, QUEUE_TAG
from ai_assets.quality.freshness import FRESHNESS_BY_ASSET
from ai_assets.warehouse.contract import column_type
from ai_assets.warehouse.lake import ALIAS, STORE_VARIABLES, store_credentials, table_names
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
    """The models under models/marts: each a table in the lake."""
    return sorted(path.stem for path in (DBT_PROJECT_DIR / "models" / "marts").glob("*.sql"))


def _env(variable: str) -> str:
    """A value dbt reads from the environment when it loads the profile: never written to the file."""
    return "{{ env_var('" + variable + "') }}"


def write_profile(profiles_dir: Path, warehouse: WarehouseResource) -> Path:
    """A dbt profile (JSON is YAML) on the lake: attached as `lake`, its extensions installed from
    the wheels into a folder dbt loads them from, secrets by reference to the environment."""
    lake = warehouse.lake
    extensions = Path(warehouse.lock_dir).parent / "duckdb_extensions"
    lake.install_extensions(extensions)
    # On PostgreSQL the path leaves the password out: the build passes it as PGPASSWORD (`build_environment`).
    catalog = lake.attach_path()
    output: dict[str, Any] = {
        "type": "duckdb",
        "path": ":memory:",
        "database": ALIAS,
        "schema": "main",
        "threads": 1,
        # config_options, not settings: dbt installs the extensions before it applies settings.
        "config_options": {
            "extension_directory": str(extensions),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
        "extensions": lake.extensions(),
        "attach": [{"path": catalog, "alias": ALIAS, "options": {"data_path": lake.data_folder()}}],
    }
    if lake.on_s3:
        output["secrets"] = [_s3_secret(warehouse)]
    profile = {"ai_assets": {"target": "dev", "outputs": {"dev": output}}}
    profiles_dir.mkdir(parents=True, exist_ok=True)
    (profiles_dir / "profiles.yml").write_text(json.dumps(profile, indent=2))
    return profiles_dir


@contextmanager
def build_environment(warehouse: WarehouseResource) -> Iterator[None]:
    """dbt's process's secrets while it builds, in its environment only, so no file or log of dbt's
    ever holds them: PGPASSWORD when the lake's catalog URL has a password (PostgreSQL's client
    library reads it there), and the S3 store's credentials when boto's chain found them elsewhere
    than in the AWS_* variables (a profile, a role)."""
    added = {}
    if password := warehouse.lake.catalog_password():
        added["PGPASSWORD"] = password
    if warehouse.lake.on_s3:
        added.update({variable: value for variable, value in _store_variables().items() if value})
    before = {variable: os.environ.get(variable) for variable in added}
    os.environ.update(added)
    try:
        yield
    finally:
        for variable, value in before.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def _store_variables() -> dict[str, str]:
    credentials = store_credentials()
    return {variable: credentials.get(key, "") for key, variable in STORE_VARIABLES.items()}


def _s3_secret(warehouse: WarehouseResource) -> dict[str, str]:
    """The lake session's S3 secret, its credentials by reference to the environment (`build_environment`)."""
    found = _store_variables()
    secret = {key: _env(variable) for key, variable in STORE_VARIABLES.items() if found[variable]}
    return {"type": "s3", **secret, **warehouse.lake.store_options()}


def built_marts(warehouse: WarehouseResource, names: list[str]) -> dict[str, pl.DataFrame]:
    """The marts of `names` the build left in the lake."""
    with warehouse.get_connection() as conn:
        built = table_names(conn)
        return {name: conn.execute(f"SELECT * FROM {name}").pl() for name in names if name in built}


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
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=MartsTranslator(),
        pool=DBT_POOL,
        # On Celery workers, the builds take their own queue: one worker's machine holds dbt's artifacts.
        op_tags={QUEUE_TAG: MARTS_QUEUE},
    )
    def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        """Builds and tests the staging views and marts (`dbt build`) in the lake."""
        work = Path(warehouse.lock_dir).parent / "dbt"
        profiles_dir = write_profile(work / "profile", warehouse)
        # The lake's lock: the pipeline's commits wait for the build (a SQLite catalog takes one
        # writer at a time), and two builds (the pool aside, e.g. a `dbt build` by hand) queue here.
        with warehouse.locked("lake"):
            # The secrets are in the environment only while dagster-dbt copies it for dbt's process.
            with build_environment(warehouse):
                # dbt's artifacts and logs in the data directory, not in the repository's dbt_project/target.
                build = dbt.cli(
                    ["build", "--profiles-dir", str(profiles_dir)], context=context, target_path=work / "target"
                )
            # Held back until the build is over, so each model's event carries its row count and columns.
            events = list(build.stream())
        published = built_marts(warehouse, mart_names())
        rows = {name: frame.height for name, frame in published.items()}
        context.log.info(f"Built the marts in the lake ({warehouse.lake.describe()}): {rows}")
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
