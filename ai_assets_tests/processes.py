"""Processes the tests start, and proof that none outlives the suite.

Servers (`dagster dev`, `dagster-daemon`) start in a process group of their own and are stopped the
way they are meant to be: an interrupt to the group, as Ctrl-C sends, then a kill after a bound. A
slow stop is logged, not a test error.

Every process a test starts inherits `MARK` (conftest sets it to the session and the running test),
so a process that outlives its test is found by its environment even after it was orphaned and
re-parented: `marked_processes` lists them for the session-end check.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

MARK = "AI_ASSETS_TEST_PROCESS"
# Python's own helper processes of this interpreter (started by the first multiprocessing use in
# the test process): they end with the interpreter, after the session-end check, by design.
INTERPRETER_HELPERS = (
    "from multiprocessing.resource_tracker import main",
    "from multiprocessing.forkserver import main",
)


def start_group(command: list[str], **popen_kwargs) -> subprocess.Popen:
    """`command` as the leader of a new process group: `stop_group` reaches all it starts. Ctrl-C
    is given back its default action: a suite started in the background by a shell (as CI may
    be) inherits SIGINT ignored, and so would every server it starts, Python's included."""
    return subprocess.Popen(
        command, start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen_kwargs
    )


def stop_group(process: subprocess.Popen, grace_s: float = 60, interrupt: int = signal.SIGINT) -> str:
    """Interrupt the group of `process`, wait up to `grace_s` for its leader, then kill whatever of
    the group is left. Returns how it stopped: "exited", "interrupted" or "killed"."""
    if process.poll() is not None:
        how = "exited"
    else:
        _signal_group(process.pid, interrupt)
        try:
            process.wait(timeout=grace_s)
            how = "interrupted"
        except subprocess.TimeoutExpired:
            how = "killed"
    # Children the leader left behind (or all of them, on a timeout) go with the group.
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()
    return how


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def marked_processes(value_prefix: str) -> dict[int, tuple[str, str]]:
    """Live processes (not this one) whose environment has `MARK` starting with `value_prefix`:
    pid -> (the mark, the command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if not _alive(int(entry.name)) or (_parent(int(entry.name)) == os.getpid() and _helper(command)):
            continue
        for variable in environ:
            if variable.startswith(f"{MARK}={value_prefix}".encode()):
                found[int(entry.name)] = (variable.split(b"=", 1)[1].decode(errors="replace"), command)
                break
    return found


def wait_until_gone(pids: set[int], timeout_s: float) -> set[int]:
    """The `pids` still alive after up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = {pid for pid in alive if _alive(pid)}
    return alive


def _helper(command: str) -> bool:
    return any(helper in command for helper in INTERPRETER_HELPERS)


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _alive(pid: int) -> bool:
    """Running, and not a zombie (dead, waiting for its parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
