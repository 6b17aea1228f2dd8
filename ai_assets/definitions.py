"""The one `dg.Definitions` of ai_assets: the `dg` defs folder (ai_assets/defs/), one folder per
feature, loaded with the settings of one read of the environment.

Importing this module reads no setting, writes no file and runs nothing: Dagster (`dagster dev`,
`dg dev`, `dg check defs`) calls `defs` when it loads the code location.
"""

from pathlib import Path

import dagster as dg

from ai_assets.components.loading import loading
from ai_assets.config import Settings, load_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every feature folder's definitions, built with `settings` (components/loading.py)."""
    with loading(settings):
        return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


@dg.definitions
def defs() -> dg.Definitions:
    """What `dg dev`, `dagster dev` and `dagster job ...` load (pyproject.toml's [tool.dg] and [tool.dagster])."""
    return build_definitions(load_settings())
