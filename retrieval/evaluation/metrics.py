"""IR metrics through pytrec_eval (trec_eval's own code), never hand-written.

Reported: nDCG@10, recall@10, recall@100, MRR@10 and MAP. MRR@10 is trec_eval's
``recip_rank`` on the run truncated to its top 10 (trec_eval has no cut-off for it).
Every judged query counts: one missing from the run (nothing retrieved) scores 0, rather than
silently leaving the mean, which pytrec_eval would otherwise do.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytrec_eval

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

METRICS: tuple[str, ...] = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map")
_TREC = {"ndcg@10": "ndcg_cut_10", "recall@10": "recall_10", "recall@100": "recall_100", "map": "map"}


def truncate(run: Run, depth: int) -> dict[str, dict[str, float]]:
    """Each query's ``depth`` best documents (ties broken by document id, as trec_eval does)."""
    out: dict[str, dict[str, float]] = {}
    for q, docs in run.items():
        best = sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))[:depth]
        out[q] = dict(best)
    return out


def per_query(qrels: Qrels, run: Run) -> dict[str, dict[str, float]]:
    """Every metric for every judged query (0 where the run has nothing for it)."""
    q = {qid: dict(j) for qid, j in qrels.items()}
    full = pytrec_eval.RelevanceEvaluator(q, {"ndcg_cut.10", "recall.10,100", "map"})
    top10 = pytrec_eval.RelevanceEvaluator(q, {"recip_rank"})
    r = {qid: {d: float(s) for d, s in docs.items()} for qid, docs in run.items() if docs and qid in q}
    a = full.evaluate(r)
    b = top10.evaluate(truncate(r, 10))
    out: dict[str, dict[str, float]] = {}
    for qid in q:
        row = {name: float(a.get(qid, {}).get(key, 0.0)) for name, key in _TREC.items()}
        row["mrr@10"] = float(b.get(qid, {}).get("recip_rank", 0.0))
        out[qid] = row
    return out


def evaluate(qrels: Qrels, run: Run) -> dict[str, float]:
    """Mean of each metric over all judged queries."""
    rows = per_query(qrels, run)
    if not rows:
        return dict.fromkeys(METRICS, 0.0)
    return {m: sum(r[m] for r in rows.values()) / len(rows) for m in METRICS}
