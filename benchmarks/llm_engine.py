"""Benchmark of the LLM engine against a local OpenAI-compatible server with a set latency.

    .venv/bin/python benchmarks/llm_engine.py [--rows 5000] [--latency 0.1] [--concurrency 32]
        [--batch-size 10] [--naive-rows 5000] [--cached-rows 100000]
    .venv/bin/python benchmarks/llm_engine.py --quick   # QUICK's sizes: seconds, for CI; the figures mean nothing

Scenarios, each in its own process so peak memory (RSS) is its own:
  (a) naive: a sequential loop with the `openai` client, one request per row;
  (b) engine: concurrency N, one row per request;
  (c) batched: the engine with several rows per request;
  (d) cached: a rerun of (c)'s rows served from the response cache, then the same on
      --cached-rows rows for throughput and memory at scale.
Prints rows/s, requests, prompt and completion tokens and peak RSS for each, and the ratios:
(b) / ideal where ideal = concurrency / latency, (b) / (a), tokens per row of (c) against (b),
rows/s of (c) against (b), and the time per cached row of (d).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# --quick: every scenario on a few rows, so CI sees the script run end to end in seconds.
QUICK = {"rows": 100, "naive_rows": 10, "cached_rows": 1000, "latency": 0.01}

SUBJECTS = (
    "Charged twice",
    "Parcel not arrived",
    "App crashes on start",
    "Return label",
    "Password reset",
    "Great service",
)
BODIES = (
    "I was charged twice for order ORD-{n} this month. Please refund the duplicate payment as soon as possible.",
    "My package for order ORD-{n} shows delivered but nothing arrived. The courier tracking has not moved in days.",
    "Since the last update the app crashes every time I open settings. I reinstalled it twice. Device id {n}.",
    "I want to return the Nimbus 2 headphones from order ORD-{n}; the left side is silent. How do I get a label?",
    "I cannot sign in to my account {n}: the reset email never arrives. I tried three times today.",
    "Just wanted to say thanks, the AeroPress Go from order ORD-{n} arrived early and works great.",
)


def make_rows(count: int):
    import polars as pl

    return pl.DataFrame(
        {
            "ticket_id": [f"B-{i:07d}" for i in range(count)],
            # The triage's few-shot examples: none, as ticket_triage sends with the cascade off.
            "examples": [""] * count,
            "channel": ["email"] * count,
            "subject": [SUBJECTS[i % len(SUBJECTS)] for i in range(count)],
            # Every body distinct, so nothing is deduplicated or cached by accident.
            "body": [BODIES[i % len(BODIES)].format(n=100000 + i) for i in range(count)],
        }
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def server_stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats") as response:
        return json.load(response)


def reset_server(base_url: str) -> None:
    urllib.request.urlopen(
        urllib.request.Request(base_url.removesuffix("/v1") + "/reset", data=b"", method="POST")
    ).close()


def triage():
    from ai_assets.defs.triage.tasks import triage_task

    return triage_task()


def scenario_naive(args) -> dict:
    import openai

    task = triage()
    client = openai.OpenAI(base_url=args.base_url, api_key="benchmark", max_retries=2)
    schema = {"type": "json_schema", "json_schema": {"name": "ticket_triage", "schema": task.json_schema}}
    rows = make_rows(args.rows)
    started = time.perf_counter()
    for user in rows.select(user=task.prompt.user_expr())["user"]:
        response = client.chat.completions.create(
            model="fake-model",
            messages=task.prompt.messages(user),
            response_format=schema,
            temperature=0,
            max_tokens=300,
        )
        task.output_model.model_validate_json(response.choices[0].message.content)
    return {"rows": rows.height, "seconds": time.perf_counter() - started}


def scenario_engine(args) -> dict:
    from dataclasses import replace

    from ai_assets.llm.cache import ResponseCache
    from ai_assets.llm.client import Endpoint
    from ai_assets.llm.engine import Limits, run_task

    rows = make_rows(args.rows)
    task = replace(triage(), batch_size=args.batch_size)
    cache = ResponseCache(Path(args.cache))
    started = time.perf_counter()
    result = run_task(
        task,
        rows,
        endpoint=Endpoint(args.base_url, "fake-model", 30, 4, "json_schema"),
        cache=cache,
        id_column="ticket_id",
        limits=Limits(concurrency=args.concurrency),
    )
    seconds = time.perf_counter() - started
    cache.close()
    assert result.outputs.height + result.failures.height == rows.height
    return {
        "rows": rows.height,
        "seconds": seconds,
        "failures": result.failures.height,
        "cache_hits": result.metrics.cache_hits,
    }


def run_child(name: str, args, **overrides) -> dict:
    """Run one scenario in a fresh process; returns its figures plus the server's counts."""
    reset_server(args.base_url)
    options = {**vars(args), **overrides, "scenario": name, "quick": None}  # the sizes are already set
    command = [sys.executable, __file__, *[f"--{k.replace('_', '-')}={v}" for k, v in options.items() if v is not None]]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    stats = server_stats(args.base_url)
    figures.update(
        requests=stats["call_count"], prompt_tokens=stats["prompt_tokens"], completion_tokens=stats["completion_tokens"]
    )
    figures["rows_per_s"] = figures["rows"] / figures["seconds"]
    return figures


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    ready = Path(tempfile.mkdtemp()) / "ready"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ai_assets_tests.fakes.llm_server",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--ready-file",
            str(ready),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text().strip():
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.05)
    return server, ready.read_text().strip()


def report(name: str, f: dict) -> None:
    per_row = (f["prompt_tokens"] + f["completion_tokens"]) / f["rows"]
    print(
        f"{name:<34} {f['rows']:>7} rows {f['seconds']:>8.2f} s {f['rows_per_s']:>10.1f} rows/s "
        f"{f['requests']:>6} requests {f['prompt_tokens']:>9} prompt + {f['completion_tokens']:>8} completion tokens "
        f"({per_row:6.1f}/row)  peak RSS {f['peak_rss_mb']:6.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--naive-rows", type=int, default=5000, help="rows for (a); its rate is what counts")
    parser.add_argument("--cached-rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help=f"overrides the sizes with {QUICK}")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)

    if args.scenario:  # a child process: one scenario, one JSON line
        figures = scenario_naive(args) if args.scenario == "naive" else scenario_engine(args)
        print(json.dumps({**figures, "peak_rss_mb": peak_rss_mb()}))
        return

    server, args.base_url = start_server(args.latency)
    workdir = Path(tempfile.mkdtemp(prefix="ai_assets_bench_"))
    try:
        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
            f"server latency {args.latency * 1000:.0f} ms, "
            f"concurrency {args.concurrency}, batch size {args.batch_size}"
        )
        a = run_child("naive", args, rows=args.naive_rows, batch_size=1)
        report("(a) naive sequential openai loop", a)
        b = run_child("engine", args, batch_size=1, cache=str(workdir / "b.sqlite"))
        report("(b) engine, 1 row/request", b)
        c = run_child("engine", args, cache=str(workdir / "c.sqlite"))
        report(f"(c) engine, {args.batch_size} rows/request", c)
        d = run_child("engine", args, cache=str(workdir / "c.sqlite"))
        report("(d) cached rerun of (c)", d)
        run_child("engine", args, rows=args.cached_rows, cache=str(workdir / "big.sqlite"))  # fills the cache
        big = run_child("engine", args, rows=args.cached_rows, cache=str(workdir / "big.sqlite"))
        report(f"(d) cached rerun, {args.cached_rows} rows", big)

        ideal = args.concurrency / args.latency
        tokens = lambda f: (f["prompt_tokens"] + f["completion_tokens"]) / f["rows"]  # noqa: E731
        print()
        print(f"(b) / ideal ({ideal:.0f} rows/s):           {b['rows_per_s'] / ideal:.2f}   (target >= 0.8)")
        print(f"(b) / (a) rows/s:                  {b['rows_per_s'] / a['rows_per_s']:.1f}x")
        print(
            f"(c) tokens per row vs (b):         {tokens(c) / tokens(b):.2f}   "
            f"({1 - tokens(c) / tokens(b):.0%} fewer; target >= 40% fewer)"
        )
        print(f"(c) / (b) rows/s:                  {c['rows_per_s'] / b['rows_per_s']:.1f}x  (target >= 3x)")
        print(
            f"(d) time per cached row:           {d['seconds'] / d['rows'] * 1e6:.1f} us "
            f"({d['rows_per_s']:.0f} rows/s; requests {d['requests']})"
        )
        print(
            f"(d) at {args.cached_rows} rows:            {big['rows_per_s']:.0f} rows/s (target >= 50,000), "
            f"peak RSS {big['peak_rss_mb']:.0f} MB (target < 1024)"
        )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
