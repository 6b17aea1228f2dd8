"""`dagster dev` on the project's workspace and a free loopback port, for tests and the docs'
screenshots: started, waited for until its GraphQL API answers with the code location loaded,
queried, stopped as Ctrl-C stops it (an interrupt to its process group: webserver, daemon and code
servers), killed after a bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ai_assets.pipeline import WORKSPACE
from ai_assets_tests.fakes.loopback import free_port
from ai_assets_tests.processes import start_group, stop_group


class DagsterDev:
    """`dagster dev` on `dagster_home` (default: the environment's DAGSTER_HOME), its output in `log`."""

    def __init__(self, log: Path, dagster_home: Path | None = None, timeout_s: float = 180):
        self.port = free_port()
        self.log = log.open("w")
        env = {**os.environ, **({"DAGSTER_HOME": str(dagster_home)} if dagster_home else {})}
        dagster = Path(sys.executable).parent / "dagster"
        self.process = start_group(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", str(WORKSPACE)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self._code_location_loaded():
                    return
            except OSError:
                pass
            time.sleep(1)
        self.stop()
        raise TimeoutError(f"dagster dev did not answer on port {self.port}: {log.read_text()[-2000:]}")

    def _code_location_loaded(self) -> bool:
        """The webserver answers and has loaded the code location: a mutation sent while it is still
        loading may fail with HTTP 500."""
        entries = self.query("{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }")[
            "workspaceOrError"
        ]["locationEntries"]
        return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, text: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def wait_for_run(self, run_id: str, timeout_s: float = 240) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.query("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})[
                "runOrError"
            ]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(2)
        raise TimeoutError(f"run {run_id} still {status} after {timeout_s:.0f} s")

    def stop(self, grace_s: float = 30) -> str:
        """Stops the whole group; returns how ("interrupted", or "killed" after `grace_s`)."""
        how = stop_group(self.process, grace_s)
        self.log.close()
        return how
