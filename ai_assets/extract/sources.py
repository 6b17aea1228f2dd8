"""The landing folders as external assets: the graph starts where the data comes in.

Each folder under `landing/` is an asset Dagster does not materialise (files arrive from outside).
`landing_observer_sensor` records an observation of a folder whenever its files change, with a data
version (a fingerprint of names, sizes and modification times) and the file count, so the UI shows
when each source last changed and marks the extract assets stale against it. It launches nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ai_assets.extract.remote_landing import Landing
from ai_assets.warehouse.contract import OWNER


@dataclass(frozen=True)
class LandingSource:
    name: str
    folder: str  # under landing/
    description: str
    pii: bool

    def spec(self) -> dg.AssetSpec:
        return dg.AssetSpec(
            self.name,
            description=self.description,
            group_name="landing",
            kinds={"file"},
            owners=[OWNER],
            tags={"pii": ""} if self.pii else {},
            metadata={"landing_folder": f"landing/{self.folder}"},
        )


LANDING_SOURCES = (
    LandingSource(
        "landing_tickets", "tickets", "Ticket files, one folder per UTC day: tickets/YYYY-MM-DD/*.jsonl|csv.", True
    ),
    LandingSource("landing_crm", "crm", "The CRM export: crm/customers.csv.", True),
    LandingSource("landing_catalog", "catalog", "The product catalog: catalog/products.csv.", False),
    LandingSource("landing_orders", "orders", "The order system's daily export: orders/YYYY-MM-DD/*.jsonl|csv.", True),
    LandingSource("landing_kb", "kb", "Knowledge-base articles: kb/*.md with front matter.", False),
    LandingSource("landing_reviews", "reviews", "Reviewers' decisions: reviews/*.jsonl|csv.", True),
    LandingSource(
        "landing_kb_reviews", "kb_reviews", "Reviewers' decisions on article proposals: kb_reviews/*.jsonl|csv.", False
    ),
    LandingSource("landing_labels", "labels", "Labelled tickets for the evaluations: labels/*.jsonl|csv.", True),
)


def folder_fingerprint(folder: Path) -> tuple[str, int, int]:
    """A version of everything under `folder` (names, sizes, modification times), its file count and bytes."""
    entries = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file():
            stat = path.stat()
            entries.append((path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns))
    digest = hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]
    return digest, len(entries), sum(size for _, size, _ in entries)


def landing_folders(graph: dg.AssetGraph) -> dict[str, str]:
    """The folder under landing/ of each landing asset of `graph` (the assets with `landing_folder`
    metadata): ours and every `LandingTable`'s, so a declared source is observed like a shipped one."""
    folders = {}
    for key in graph.get_all_asset_keys():
        folder = graph.get(key).metadata.get("landing_folder")
        if folder is not None:
            folders[key.to_user_string()] = str(getattr(folder, "value", folder)).removeprefix("landing/")
    return folders


def build_landing_observer(landing: Landing) -> dg.SensorDefinition:
    """Observes every landing asset of the code location it is loaded in (see `landing_folders`)."""

    @dg.sensor(
        name="landing_observer_sensor",
        minimum_interval_seconds=60,
        # Running from the start: it only records observations, and launches no run.
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Records an observation (a new data version) of each landing folder whose files changed.",
    )
    def landing_observer_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen = json.loads(context.cursor) if context.cursor else {}
        landing_dir = landing.refreshed()
        observations = []
        for name, folder in landing_folders(context.repository_def.asset_graph).items():
            version, files, size = folder_fingerprint(landing_dir / folder)
            if seen.get(name) == version:
                continue
            seen[name] = version
            observations.append(
                dg.AssetObservation(
                    asset_key=name,
                    metadata={"files": files, "bytes": size},
                    tags={"dagster/data_version": version},
                )
            )
        return dg.SensorResult(asset_events=observations, cursor=json.dumps(seen))

    return landing_observer_sensor
