"""The tests' own process hygiene: servers stop as a group, a stubborn one is killed after a bound,
and a process a test leaves behind fails the session with the test's name."""

from __future__ import annotations

import os
import subprocess
import sys

from ai_assets_tests.processes import MARK, marked_processes, start_group, stop_group, wait_until_gone

# A server that ignores Ctrl-C, and so does the child it starts (an ignored signal stays ignored
# across exec): only the kill after the bound stops them.
STUBBORN = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN);"
    " subprocess.Popen(['sleep', '600']); print('ready', flush=True); time.sleep(600)"
)


def test_a_server_that_ignores_the_interrupt_is_killed_with_its_children_after_the_bound(monkeypatch):
    mark = f"{os.environ[MARK]} stubborn"
    monkeypatch.setenv(MARK, mark)
    server = start_group([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline() == "ready\n"
    assert len(marked_processes(mark)) == 2

    assert stop_group(server, grace_s=0.5) == "killed"
    assert wait_until_gone(set(marked_processes(mark)), timeout_s=10) == set()


def test_a_server_that_stops_on_the_interrupt_is_not_killed():
    server = start_group(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(600)"], stdout=subprocess.PIPE
    )
    assert server.stdout.readline() == b"ready\n"
    assert stop_group(server) == "interrupted"


def test_a_process_left_behind_fails_the_session_and_is_named(tmp_path):
    (tmp_path / "test_leak.py").write_text(
        "import subprocess\n\ndef test_leaks():\n    subprocess.Popen(['sleep', '600'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "ai_assets_tests.conftest", "-p", "no:cacheprovider"]
        + [str(tmp_path / "test_leak.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout
    assert "1 passed" in result.stdout and "processes left behind by tests" in result.stdout
    assert "test_leak.py::test_leaks: sleep 600" in result.stdout
