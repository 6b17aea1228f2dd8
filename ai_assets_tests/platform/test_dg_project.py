"""The project as `dg` sees it: `dg check defs` and `dg list defs` from the repository, as the docs
show them, and definitions that load without a superseded or deprecated Dagster API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import dagster as dg

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets.warehouse.lake import Lake
from ai_assets_tests.conftest import configure_env

ROOT = Path(__file__).resolve().parents[2]
DG = str(Path(sys.executable).parent / "dg")


def _dg(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "AI_ASSETS_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([DG, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_dg_check_defs_is_clean(tmp_path):
    checked = _dg(tmp_path, "check", "defs")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "All definitions loaded successfully." in checked.stdout + checked.stderr
    assert "superseded" not in (checked.stdout + checked.stderr).lower()


def test_dg_list_defs_lists_every_asset(tmp_path, monkeypatch):
    listed = _dg(tmp_path, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    assets = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    expected = {key.to_user_string() for key in build_definitions(settings).resolve_asset_graph().get_all_asset_keys()}
    assert assets == expected
    assert {"raw_tickets", "ticket_triage", "eval_runs", "ticket_kpis_daily"} <= assets


def test_definitions_load_without_a_superseded_or_deprecated_dagster_api(tmp_path, monkeypatch):
    configure_env(monkeypatch, tmp_path / "data", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_definitions(load_settings()).resolve_asset_graph()
    ours = [
        f"{w.filename}:{w.lineno}: {w.message}"
        for w in caught
        if issubclass(w.category, DeprecationWarning | dg.SupersessionWarning) and "ai_assets" in w.filename
    ]
    assert ours == []


def test_dg_launch_materialises_assets_into_the_warehouse(tmp_path):
    generate_sample_data(tmp_path / "data", days=1, tickets_per_day=10, golden_size=20, handwritten=False)
    launched = _dg(tmp_path, "launch", "--assets", "customers,customers_quarantine")
    assert launched.returncode == 0, launched.stderr[-3000:]
    data = tmp_path / "data"
    with Lake(str(data / "lake.sqlite"), str(data / "lake"), str(data / "locks")).connect(read_only=True) as conn:
        assert conn.execute("select count(*) from customers").fetchone()[0] >= 300


def test_only_the_demo_launcher_imports_dagster_internals():
    """Dagster's public API only (`dagster._core` changes without notice), but for the one import
    pipeline.py explains: the demo's runs with the code location's origin."""
    package = Path(__file__).resolve().parents[2] / "ai_assets"
    importers = sorted(
        str(module.relative_to(package))
        for module in package.rglob("*.py")
        if re.search(r"^\s*(from|import) dagster\._|importlib\.import_module\(.dagster\._", module.read_text(), re.M)
    )
    assert importers == ["pipeline.py"]


def test_the_package_imports_without_a_warning():
    """A warning at import reaches every `dg` command and run log (e.g. a component attribute that
    shadows one of Dagster's, as `model` did `Resolvable.model`)."""
    imports = "import ai_assets.definitions, ai_assets.components"
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", imports], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
