"""Calibrate the "evidence too weak" threshold (RetrievalSettings.min_evidence_score).

    uv run python bench/calibrate_evidence.py --dataset scifact --split train --limit 100 \
        --offtopic hotpotqa_dev500 --offtopic cranfield

Three distributions of the best query-to-evidence-sentence support over each query's top
passages (retrieval.evaluation.calibration): answerable (judged queries, relevant documents in
the index), removed (their relevant documents removed from the results) and off-topic (another
dataset's queries). Prints the distributions, the AUCs, the error rates at a grid of thresholds
and the threshold that maximizes balanced accuracy against the pooled unanswerable scores.

``--bm25-only`` retrieves the evidence with BM25 alone, so the corpus' chunks need no
embedding (only the evidence sentences and queries do): the cheap way on a CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from core.settings import Settings
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.calibration import (
    auc,
    choose_threshold,
    error_rates,
    evidence_scores,
    threshold_at_refusal,
)
from retrieval.evaluation.configs import resolve_config
from retrieval.evaluation.runner import EvalSession
from retrieval.grounding import Grounder

DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def summary(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs)
    return {
        "n": len(xs),
        "mean": round(float(a.mean()), 4),
        "p10": round(float(np.percentile(a, 10)), 4),
        "p50": round(float(np.percentile(a, 50)), 4),
        "p90": round(float(np.percentile(a, 90)), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=100, help="judged queries to use (random, seeded)")
    ap.add_argument("--offtopic", action="append", default=[], help="dataset whose queries are off-topic")
    ap.add_argument("--top-k", type=int, default=3, help="passages the evidence is taken from")
    ap.add_argument("--config", default="default")
    ap.add_argument("--bm25-only", action="store_true")
    args = ap.parse_args(argv)
    rng = random.Random(13)
    ds = load_beir(args.datasets_dir / args.dataset, args.split)
    qids = sorted(ds.queries)
    rng.shuffle(qids)
    ds = ds.subset(sorted(qids[: args.limit]))
    config = resolve_config(args.config)
    if args.bm25_only:
        config = config.model_copy(update={"reranker": "none"})
    settings = Settings()

    def say(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    with EvalSession(ds, settings=settings, progress=say, dense=not args.bm25_only) as session:
        grounder = Grounder(session.embedder)
        answerable = evidence_scores(session, config, grounder, top_k=args.top_k)
        say(f"answerable: {summary(answerable)}")
        removed = evidence_scores(session, config, grounder, top_k=args.top_k, remove_relevant=True)
        say(f"removed: {summary(removed)}")
        offtopic: list[float] = []
        for name in args.offtopic:
            other = load_beir(args.datasets_dir / name, "test")
            oq = sorted(other.queries)
            rng.shuffle(oq)
            picked = {f"{name}:{q}": other.queries[q] for q in oq[: args.limit]}
            offtopic += evidence_scores(session, config, grounder, top_k=args.top_k, queries=picked)
        if offtopic:
            say(f"off-topic: {summary(offtopic)}")
    pooled = removed + offtopic
    choice = choose_threshold(answerable, pooled)
    grid = []
    for t in np.arange(0.2, 0.81, 0.05):
        fr, fa_removed = error_rates(answerable, removed, float(t))
        _, fa_off = error_rates(answerable, offtopic, float(t))
        grid.append(
            {
                "threshold": round(float(t), 2),
                "answerable_refused": round(fr, 3),
                "removed_answered": round(fa_removed, 3),
                "offtopic_answered": round(fa_off, 3),
            }
        )
    report = {
        "dataset": f"{args.dataset}/{args.split}",
        "queries": len(answerable),
        "top_k": args.top_k,
        "retrieval": "bm25" if args.bm25_only else config.name,
        "answerable": summary(answerable),
        "removed": summary(removed),
        "offtopic": summary(offtopic) if offtopic else None,
        "auc_removed": round(auc(answerable, removed), 4),
        "auc_offtopic": round(auc(answerable, offtopic), 4) if offtopic else None,
        "max_balanced_accuracy": choice.__dict__,
        "shipped_rule_refuse_at_most_10pct": threshold_at_refusal(answerable, pooled, 0.1).__dict__,
        "raw": {"answerable": answerable, "removed": removed, "offtopic": offtopic},
        "chosen_offtopic_only": choose_threshold(answerable, offtopic).__dict__ if offtopic else None,
        "grid": grid,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
