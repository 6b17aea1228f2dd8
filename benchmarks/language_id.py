"""The triage's language identifier (transform/language.py) on whole tickets and on short fragments.

    .venv/bin/python benchmarks/language_id.py            # 1,000 generated golden tickets, the 64 held-out
    .venv/bin/python benchmarks/language_id.py --quick    # 200 generated tickets

The threshold is chosen on the sample generator's golden set only: the lowest confidence at which
the identifier's answers on its short fragments (a subject alone, a body's first six words) reach
0.98 accuracy with 95% confidence (the Wilson lower bound of their accuracy), not only on average.
The hand-written held-out tickets (benchmarks/heldout/) are only scored at it, never used to choose.
Prints, per set: accuracy of the answers given and its 95% lower bound, the share left to the LLM
(unsure, or a language outside the set), and microseconds per text.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ai_assets.quality.metrics import accuracy_lower_bound  # noqa: E402
from ai_assets.sample_data.generator import generate_sample_data  # noqa: E402
from ai_assets.transform.language import DEFAULT_MIN_CONFIDENCE, LanguageIdentifier  # noqa: E402

HELDOUT = ROOT / "benchmarks" / "heldout" / "triage_labels.jsonl"
TARGET = 0.98


def tickets(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def whole(rows: list[dict]) -> list[tuple[str, str]]:
    return [(f"{r.get('subject') or ''}\n{r['body']}", r["labels"]["language"]) for r in rows]


def fragments(rows: list[dict], words: int = 6) -> list[tuple[str, str]]:
    """The subject alone and the body's first words: short text, where an identifier is unsure."""
    seen, out = set(), []
    for r in rows:
        for text in ((r.get("subject") or "").strip(), " ".join(r["body"].split()[:words])):
            if text and text not in seen:
                seen.add(text)
                out.append((text, r["labels"]["language"]))
    return out


def scored(identifier: LanguageIdentifier, texts: list[tuple[str, str]]) -> dict:
    start = time.perf_counter()
    answers = identifier.identify([text for text, _ in texts])
    micros = (time.perf_counter() - start) / len(texts) * 1e6
    given = [(a[0], truth) for a, (_, truth) in zip(answers, texts) if a]
    right = sum(found == truth for found, truth in given)
    return {
        "n": len(texts),
        "accuracy": right / len(given) if given else None,
        "lower_bound": float(accuracy_lower_bound(right, len(given))),
        "to_llm": 1 - len(given) / len(texts),
        "us_per_text": micros,
    }


def threshold_on(texts: list[tuple[str, str]]) -> float:
    """The lowest threshold (0.01 steps) at which the answers given reach TARGET at 95% confidence."""
    for step in range(101):
        candidate = step / 100
        if scored(LanguageIdentifier(min_confidence=candidate), texts)["lower_bound"] >= TARGET:
            return candidate
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 generated tickets instead of 1,000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        size = 200 if args.quick else 1000
        generate_sample_data(Path(folder), days=1, start=datetime.date(2026, 11, 1), golden_size=size)
        golden = tickets(Path(folder) / "landing" / "labels" / "golden.jsonl")
    heldout = tickets(HELDOUT)
    LanguageIdentifier().identify(["warm-up"])  # the models' load is not a text's time
    chosen = threshold_on(fragments(golden))
    print(
        f"threshold whose 95% lower bound reaches {TARGET} on the generated fragments: {chosen:.2f}"
        f" (shipped: {DEFAULT_MIN_CONFIDENCE})"
    )
    identifier = LanguageIdentifier(min_confidence=chosen)
    print(f"{'set':<34}{'n':>6}{'accuracy':>10}{'95% LB':>8}{'to LLM':>9}{'µs/text':>10}")
    for name, texts in (
        (f"generated golden, whole ({len(golden)})", whole(golden)),
        ("generated golden, fragments", fragments(golden)),
        ("held-out (hand-written), whole", whole(heldout)),
        ("held-out, fragments", fragments(heldout)),
    ):
        r = scored(identifier, texts)
        accuracy = f"{r['accuracy']:.3f}" if r["accuracy"] is not None else "-"
        print(
            f"{name:<34}{r['n']:>6}{accuracy:>10}{r['lower_bound']:>8.3f}{r['to_llm']:>9.1%}{r['us_per_text']:>10.0f}"
        )


if __name__ == "__main__":
    main()
