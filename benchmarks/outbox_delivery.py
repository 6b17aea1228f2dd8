"""Delivery under stress: two runs of one day at once (duplicates), and a hung webhook (wall time).

    .venv/bin/python benchmarks/outbox_delivery.py race [--rounds 20] [--actions 85] [--sink jsonl|webhook]
    .venv/bin/python benchmarks/outbox_delivery.py hung [--actions 90]
    .venv/bin/python benchmarks/outbox_delivery.py race|hung --quick   # seconds, for CI

`--quick`: race 2 rounds of 10 actions; hung 10 actions with a 0.2 s webhook timeout and 0.05 s
backoff instead of 10 s and 1 s, so the breaker stops it in about 3 s instead of a few minutes.

`race`: each round, two processes deliver the same day's actions at once (released by a barrier),
each as a run would; prints the duplicate deliveries per round. `hung`: one delivery step against a
webhook that accepts requests and never answers, with the default settings (10 s timeout, 3
attempts, 1 s backoff, breaker after 5 failed actions, 300 s deadline); prints the wall time.

`--rev REV` runs the outbox module of a git revision instead of the working tree's (e.g. the one
before the delivery ledger: no ledger, breaker or deadline), to measure the defect it had.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from ai_assets.defs.outbox.tables import OUTBOX_DELIVERIES  # noqa: E402
from ai_assets.load.ledger import DeliveryLedger  # noqa: E402
from ai_assets_tests.fakes.outbox_rows import DAY, day_actions  # noqa: E402
from ai_assets_tests.fakes.webhook_receiver import WebhookReceiver  # noqa: E402


def outbox_module(rev: str | None) -> ModuleType:
    if rev is None:
        import ai_assets.load.outbox as outbox

        return outbox
    source = subprocess.check_output(["git", "-C", str(ROOT), "show", f"{rev}:ai_assets/load/outbox.py"], text=True)
    path = Path(tempfile.mkdtemp()) / "outbox_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("outbox_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def deliver_step(outbox: ModuleType, actions, sink, ledger_path: Path, owner: str, backoff_s: float = 1.0) -> int:
    """One run's delivery step with the default settings (but `backoff_s`); the number of actions it sent."""
    if not hasattr(outbox, "DeliveryPolicy"):  # before the ledger
        table = outbox.deliver(actions, OUTBOX_DELIVERIES.empty(), sink, 3, backoff_s)
        return int((table["attempts"] > 0).sum())
    policy = outbox.DeliveryPolicy(backoff_s=backoff_s)
    with DeliveryLedger(ledger_path, owner=owner) as ledger:
        report = outbox.deliver(actions, OUTBOX_DELIVERIES.empty(), sink, ledger, policy, [DAY])
    return len(report.sent)


def _race_worker(rev, name, rounds, n_actions, barrier, results) -> None:
    outbox, actions = outbox_module(rev), day_actions(n_actions)
    for ledger_path, target in rounds:
        sink = outbox.WebhookSink(target) if target.startswith("http") else outbox.JsonlSink(Path(target))
        barrier.wait(timeout=300)
        results.put(deliver_step(outbox, actions, sink, Path(ledger_path), name))


def race(args: argparse.Namespace) -> None:
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver(latency=0.002) as hook:
        rounds = [
            (
                f"{tmp}/round-{i:02d}/ledger.sqlite",
                f"{hook.url}/round-{i:02d}" if args.sink == "webhook" else f"{tmp}/round-{i:02d}/actions.jsonl",
            )
            for i in range(args.rounds)
        ]
        barrier, results = spawn.Barrier(2), spawn.Queue()
        workers = [
            spawn.Process(target=_race_worker, args=(args.rev, n, rounds, args.actions, barrier, results))
            for n in ("a", "b")
        ]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if any(worker.exitcode for worker in workers):
            raise SystemExit("a delivery process failed: see its traceback above")
        elapsed = time.monotonic() - started
        if args.sink == "webhook":
            per_round = Counter(path for path, _ in hook.accepted)
            delivered = [per_round[f"/actions/round-{i:02d}"] for i in range(args.rounds)]
        else:
            delivered = [len(Path(target).read_text().splitlines()) for _, target in rounds]
    duplicates = [n - args.actions for n in delivered]
    print(
        f"race: {args.rounds} rounds x 2 processes x {args.actions} actions to {args.sink} ({args.rev or 'worktree'})"
    )
    print(f"  duplicate deliveries per round: {duplicates}")
    print(
        f"  rounds with duplicates: {sum(d > 0 for d in duplicates)}/{args.rounds}; "
        f"duplicates in all: {sum(duplicates)}; {elapsed:.1f} s"
    )


def hung(args: argparse.Namespace) -> None:
    outbox, actions = outbox_module(args.rev), day_actions(args.actions)
    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver(mode="hang", hang_s=3600) as hook:
        sink = outbox.WebhookSink(hook.url, timeout_s=0.2) if args.quick else outbox.WebhookSink(hook.url)
        started = time.monotonic()
        deliver_step(outbox, actions, sink, Path(tmp) / "ledger.sqlite", "bench", 0.05 if args.quick else 1.0)
        elapsed = time.monotonic() - started
        requests = len(hook.received)
    print(f"hung: {args.actions} actions to a webhook that never answers ({args.rev or 'worktree'})")
    print(f"  wall time {elapsed:.1f} s, {requests} requests, {elapsed / args.actions:.1f} s per action due")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["race", "hung"])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--actions", type=int, default=None, help="85 for race, 90 for hung")
    parser.add_argument("--sink", choices=["jsonl", "webhook"], default="jsonl")
    parser.add_argument("--rev", default=None, help="git revision whose outbox.py to run (default: the worktree)")
    parser.add_argument("--quick", action="store_true", help="small and with short timeouts: seconds, for CI")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.actions = 2, 10
    args.actions = args.actions or (85 if args.scenario == "race" else 90)
    {"race": race, "hung": hung}[args.scenario](args)


if __name__ == "__main__":
    main()
