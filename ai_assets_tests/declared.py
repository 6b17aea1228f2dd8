"""What the component tests share, with conftest's `sandbox` fixture: a folder holding what a data
engineer declares (a defs.yaml and the files beside it), its definitions merged with the project's,
and runs of them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from ai_assets.definitions import build_definitions
from ai_assets_tests.conftest import Pipeline


def declare(folder: Path, component: dict, **files: str) -> None:
    """A component's folder: its defs.yaml and the files beside it (e.g. prompt="...")."""
    folder.mkdir(parents=True)
    (folder / "defs.yaml").write_text(yaml.safe_dump(component))
    for name, text in files.items():
        (folder / f"{name}.txt").write_text(text)


def with_project(pipeline: Pipeline, declared: dg.Definitions) -> dg.Definitions:
    """The project's definitions and the sandbox's declared components (their assets and checks: two
    component trees cannot be merged whole)."""
    assets = dg.Definitions(assets=list(declared.assets or []), asset_checks=list(declared.asset_checks or []))
    return dg.Definitions.merge(build_definitions(pipeline.settings), assets)


def materialise(
    pipeline: Pipeline, defs: dg.Definitions, day: str, assets: list[str], succeed: bool = True
) -> dg.ExecuteInProcessResult:
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=pipeline.instance,
        partition_key=day,
        asset_selection=[dg.AssetKey(name) for name in assets],
        raise_on_error=False,
    )
    if succeed:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def errors_said(error: BaseException) -> str:
    """What an error and the errors it came from say: Dagster wraps a component's own error."""
    said = []
    while error is not None:
        said.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(said)
