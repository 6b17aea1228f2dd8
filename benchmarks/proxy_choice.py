"""Choosing the cascade's proxy on the generated golden set, then scoring the choice on the held-out set.

    .venv/bin/python benchmarks/proxy_choice.py              # the CV grid on the golden set, ~1 minute
    .venv/bin/python benchmarks/proxy_choice.py --heldout    # and the held-out score of the choice (once)

The embeddings are cached in /tmp/proxy_vectors.npz. `--quick` (CI) runs a small grid and leaves the
held-out set alone: only that the script runs is checked there.

Every variant is scored on the golden set only, each ticket answered by a proxy fitted without it:
- "dup": 10 folds of near-duplicate groups, as `cascade.held_out_votes` calibrates;
- "scen": 10 folds of scenario groups (the label tuple category/kb article/urgency/sentiment, the
  generator's scenario as near as the labels tell it): every ticket of a template is held out together,
  closer to a hand-written ticket the proxy has never seen a paraphrase of.
The choice per field is the variant with the best mean of the two (ties: the simpler one, listed first).
Only then is the held-out set (benchmarks/heldout/triage_labels.jsonl) answered, once, by the default and
by the choice, fitted on the whole golden set.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai_assets.llm.embeddings import LocalE5Embedder  # noqa: E402
from ai_assets.llm.task import PromptTemplate  # noqa: E402
from ai_assets.quality import label_trust  # noqa: E402
from ai_assets.sample_data.generator import generate_sample_data  # noqa: E402
from ai_assets.transform import cascade  # noqa: E402

HELDOUT = ROOT / "benchmarks" / "heldout" / "triage_labels.jsonl"
CACHE = Path("/tmp/proxy_vectors.npz")
SHARED_SLACK = 0.01  # of a field's mean CV accuracy: about one golden ticket
FIELDS = cascade.CASCADE_FIELDS
MAX_INPUT_CHARS = 4000  # AI_ASSETS_MAX_INPUT_CHARS's default: what ticket_query_texts cuts to

# Generic descriptions of what each label means (written from the label names, not from any ticket).
PROTOTYPES = {
    "sentiment": {
        "negative": "negative: an angry, frustrated or disappointed customer complaining that something went wrong",
        "neutral": "neutral: a calm, factual question or request without strong feelings",
        "positive": "positive: a happy, satisfied customer giving thanks or praise",
    },
    "urgency": {
        "critical": "critical: an outage, a safety risk or money being lost right now, needs action immediately",
        "high": "high: a serious problem that blocks the customer and needs a fast answer",
        "medium": "medium: a problem that should be fixed soon but does not block the customer",
        "low": "low: a general question, a how-to or a suggestion with no time pressure",
    },
}


def golden_tickets(size: int = 120) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_data(Path(tmp), days=1, tickets_per_day=10, golden_size=size)
        lines = (Path(tmp) / "landing" / "labels" / "golden.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def ticket_text(t: dict) -> str:
    return f"{t.get('subject') or ''}\n{t.get('body') or ''}"[:MAX_INPUT_CHARS]


def embed_all(texts: dict[str, tuple[list[str], str]]) -> dict[str, np.ndarray]:
    """{name: vectors} for {name: (texts, kind)}, from CACHE when the texts are the same."""
    digest = hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()
    if CACHE.exists():
        cached = np.load(CACHE)
        if str(cached["digest"]) == digest:
            return {name: cached[name] for name in texts}
    embedder = LocalE5Embedder()
    vectors = {name: embedder.embed(values, kind)[0] for name, (values, kind) in texts.items()}
    np.savez(CACHE, digest=np.array(digest), **vectors)
    return vectors


# --- the proxy's scores ---------------------------------------------------------------------


def ridge_scores(x, labels, q, vocabulary, penalty, balanced):
    """One-vs-rest ridge scores (targets +1/-1, bias), as cascade.linear_votes; `balanced` weighs each
    example by the inverse of its class's frequency (weighted ridge: the penalty scaled by 1/weight)."""
    xb, qb = cascade._with_bias(x), cascade._with_bias(q)
    y = np.where(np.array(labels, object)[:, None] == np.array(vocabulary, object)[None, :], 1.0, -1.0)
    ridge = penalty * np.eye(len(x))
    if balanced:
        counts = (y > 0).sum(axis=0)
        weight = len(x) / (len(vocabulary) * counts[(y > 0).argmax(axis=1)])
        ridge = np.diag(penalty / weight)
    alpha = np.linalg.solve(xb @ xb.T + ridge, y)
    return qb @ (xb.T @ alpha)


def prototype_scores(x, q, vocabulary, prototypes):
    """Per class, the query's similarity to its description, standardised over the training tickets
    (as label_trust does); 0 for a class without a description."""
    scores = np.zeros((len(q), len(vocabulary)))
    for j, name in enumerate(vocabulary):
        if name not in prototypes:
            continue
        p = prototypes[name]
        train = x @ p
        spread = train.std() or 1.0
        scores[:, j] = (q @ p - train.mean()) / spread
    return scores


def predict(x, labels, q, config, prototypes):
    vocabulary = sorted(set(labels))
    score = ridge_scores(x, labels, q, vocabulary, config["penalty"], config["balanced"])
    if config["weight"]:
        zero_shot = prototype_scores(x, q, vocabulary, prototypes)
        score = score + config["weight"] * zero_shot if np.isfinite(config["weight"]) else zero_shot
    return np.array(vocabulary, object)[score.argmax(axis=1)]


def cv_accuracy(x, labels, folds, config, prototypes) -> float:
    labels = np.array(labels, object)
    right = 0
    for f in np.unique(folds):
        train, held = folds != f, folds == f
        right += (predict(x[train], list(labels[train]), x[held], config, prototypes) == labels[held]).sum()
    return right / len(labels)


def scenario_groups(tickets: list[dict]) -> np.ndarray:
    keys = [(t["labels"]["category"], t["labels"].get("kb_article_id"), t["labels"]["urgency"],
             t["labels"]["sentiment"]) for t in tickets]  # fmt: skip
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return np.array([index[k] for k in keys])


def main() -> None:
    golden = golden_tickets()
    heldout = [json.loads(line) for line in HELDOUT.read_text().splitlines() if line.strip()]
    descriptions = label_trust.category_descriptions(PromptTemplate.load("ticket_triage").system)
    proto_texts = {"category": descriptions, **PROTOTYPES}
    texts = {
        "golden_query": ([ticket_text(t) for t in golden], "query"),
        "golden_passage": ([ticket_text(t) for t in golden], "passage"),
        "heldout_query": ([ticket_text(t) for t in heldout], "query"),
        "heldout_passage": ([ticket_text(t) for t in heldout], "passage"),
    }
    for name, by_label in proto_texts.items():
        texts[f"proto_{name}_passage"] = (list(by_label.values()), "passage")
        texts[f"proto_{name}_query"] = (list(by_label.values()), "query")
    vectors = embed_all(texts)
    prototypes = {
        (name, kind): dict(zip(by_label, vectors[f"proto_{name}_{kind}"]))
        for name, by_label in proto_texts.items()
        for kind in ("passage", "query")
    }
    labels = {f: [t["labels"][f] for t in golden] for f in FIELDS}
    folds = {
        "dup": cascade.near_duplicate_groups(vectors["golden_query"]) % cascade.CALIBRATION_FOLDS,
        "scen": scenario_groups(golden) % cascade.CALIBRATION_FOLDS,
    }
    duplicates = len(np.unique(cascade.near_duplicate_groups(vectors["golden_query"])))
    scenarios = len(np.unique(scenario_groups(golden)))
    print(f"golden {len(golden)} tickets in {duplicates} near-duplicate groups, {scenarios} scenarios")

    default = {"ticket": "query", "penalty": cascade.DEFAULT_PENALTY, "balanced": False, "weight": 0.0,
               "proto": "passage"}  # fmt: skip
    quick = "--quick" in sys.argv
    grid = [default]
    for ticket, penalty, balanced, weight, proto in itertools.product(
        ("query", "passage"),
        (0.03,) if quick else (0.003, 0.01, 0.03, 0.1, 0.3),
        (False, True),
        (0.0, 0.5) if quick else (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0),
        ("passage", "query"),
    ):
        if weight == 0 and proto == "query":
            continue
        config = {"ticket": ticket, "penalty": penalty, "balanced": balanced, "weight": weight, "proto": proto}
        if config != default:
            grid.append(config)
    grid.append({**default, "weight": np.inf})  # zero-shot alone

    results = []
    for config in grid:
        x = vectors[f"golden_{config['ticket']}"]
        row = {}
        for f in FIELDS:
            protos = prototypes[(f, config["proto"])]
            row[f] = {kind: cv_accuracy(x, labels[f], fold, config, protos) for kind, fold in folds.items()}
        results.append((config, row))

    def name(c):
        return (f"ticket={c['ticket']:<7} penalty={c['penalty']:<5g} balanced={c['balanced']!s:<5} "
                f"w={c['weight']:<4g} proto={c['proto']}")  # fmt: skip

    def mean(r, f):
        return (r[f]["dup"] + r[f]["scen"]) / 2

    print("\nCV on the golden set: accuracy dup / scen per field (top 12 by the mean over fields, and the default)")
    ranked = sorted(results, key=lambda cr: -np.mean([mean(cr[1], f) for f in FIELDS]))
    for config, row in [results[0], *ranked[:12], results[-1]]:
        cells = "  ".join(f"{f[:4]} {row[f]['dup']:.3f}/{row[f]['scen']:.3f}" for f in FIELDS)
        print(f"  {name(config)}  {cells}  mean {np.mean([mean(row, f) for f in FIELDS]):.3f}")
    # The pipeline embeds a ticket once, as a query (retrieval and the cascade share it): only those
    # variants can be chosen; the passage rows above show what the other embedding would give.
    eligible = [i for i, (config, _) in enumerate(results) if config["ticket"] == "query"]
    best_per_field = {}
    for f in FIELDS:
        best = max(eligible, key=lambda i: (round(mean(results[i][1], f), 6), -i))
        best_per_field[f] = best
        r = results[best][1][f]
        print(f"  best for {f}: {name(results[best][0])}  dup {r['dup']:.3f} scen {r['scen']:.3f}")
        for config, row in sorted((results[i] for i in eligible), key=lambda cr: -mean(cr[1], f))[:5]:
            print(f"      {name(config)}  {row[f]['dup']:.3f}/{row[f]['scen']:.3f}")
    # One configuration for every field is simpler: taken when within SHARED_SLACK of each field's best.
    shared = max(eligible, key=lambda i: (round(np.mean([mean(results[i][1], f) for f in FIELDS]), 6), -i))
    gaps = {f: mean(results[best_per_field[f]][1], f) - mean(results[shared][1], f) for f in FIELDS}
    print(f"  best shared: {name(results[shared][0])}; short of each field's best by "
          + ", ".join(f"{f} {g:.3f}" for f, g in gaps.items()))  # fmt: skip
    if all(g <= SHARED_SLACK for g in gaps.values()):
        chosen = {f: results[shared][0] for f in FIELDS}
    else:
        chosen = {f: results[best_per_field[f]][0] for f in FIELDS}
    for f in FIELDS:
        print(f"  chosen for {f}: {name(chosen[f])}")

    if quick or "--heldout" not in sys.argv:
        print("\n(held-out not scored: pass --heldout once the choice is made)")
        return
    print("\nheld-out (64 hand-written tickets), fitted on the whole golden set: default vs chosen")
    for f in FIELDS:
        truth = np.array([t["labels"][f] for t in heldout], object)
        cells = []
        for config in (default, chosen[f]):
            x, q = vectors[f"golden_{config['ticket']}"], vectors[f"heldout_{config['ticket']}"]
            answer = predict(x, labels[f], q, config, prototypes[(f, config["proto"])])
            cells.append(f"{(answer == truth).mean():.3f} ({(answer == truth).sum()}/{len(truth)})")
        print(f"  {f:<10} default {cells[0]}   chosen {cells[1]}")


if __name__ == "__main__":
    main()
