"""Calibrating the "evidence too weak" threshold on judged data.

The agent refuses when the best query-to-evidence-sentence support
(:meth:`retrieval.grounding.Grounder.assess`) is below ``RetrievalSettings.min_evidence_score``.
The threshold is chosen from three score distributions, computed on an indexed dataset:

- **answerable**: the dataset's judged queries, searched normally (their relevant documents
  are in the index);
- **removed**: the same queries with their relevant documents removed from the results (what
  is left is on-topic but not the answer: the hard case);
- **off-topic**: queries of *another* dataset searched against this one (nothing relevant).

Two rules are reported: the threshold that maximizes balanced accuracy (Youden's J) between
answerable and the pooled unanswerable scores, and the highest threshold that refuses at most
a given share of answerable queries (:func:`threshold_at_refusal`, 10% by default), which is
the one shipped: a refusal of an answerable question costs the user the answer, and support
scores cannot separate "on-topic but not the answer" from the answer well anyway (see the AUCs
in docs/benchmarks.md). The report lists error rates on a grid so a deployment can choose.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.evaluation.configs import EvalConfig
from retrieval.evaluation.runner import EVAL_AS_OF, EvalSession
from retrieval.grounding import Grounder
from retrieval.results import RetrievedChunk
from retrieval.shaping import cap_per_document, merge_passages


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    false_refusal: float  # answerable queries refused
    false_answer: float  # unanswerable queries answered
    balanced_accuracy: float
    auc: float


def _passages(ranked: Sequence[RetrievedChunk], top_k: int, cap: int) -> list[object]:
    return list(merge_passages(cap_per_document(ranked, cap)[:top_k]))


def evidence_scores(
    session: EvalSession,
    config: EvalConfig,
    grounder: Grounder,
    *,
    top_k: int = 3,
    remove_relevant: bool = False,
    queries: Mapping[str, str] | None = None,
) -> list[float]:
    """The assessment score of each query's top-``top_k`` passages under ``config``."""
    retriever = session.retriever(config)
    cap = config.retrieval_settings().per_document_cap
    scores: list[float] = []
    if queries is None:
        hits = session.engine_hits(config.candidates)
        items = [(q, session.dataset.queries[q], hits[q]) for q in session.qids]
    else:
        texts = list(queries.values())
        vecs = session.embedder.encode(texts)
        items = [
            (
                qid,
                text,
                retriever.retrieve(text, session.filter, query_vector=vecs[i], depth=config.candidates),
            )
            for i, (qid, text) in enumerate(queries.items())
        ]
    for qid, text, h in items:
        ranked = retriever.rank(text, h, as_of=EVAL_AS_OF)
        if remove_relevant:
            relevant = {d for d, g in session.dataset.qrels.get(qid, {}).items() if g > 0}
            ranked = [r for r in ranked if session.index.beir_id[r.chunk.document_id] not in relevant]
        passages = _passages(ranked, top_k, cap)
        scores.append(grounder.assess(text, passages).score)  # type: ignore[arg-type]
    return scores


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Probability that a random answerable query outscores a random unanswerable one."""
    p = np.asarray(pos)[:, None]
    n = np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size)) if p.size and n.size else 0.0


def error_rates(pos: Sequence[float], neg: Sequence[float], threshold: float) -> tuple[float, float]:
    """(answerable refused, unanswerable answered) at ``threshold``."""
    fr = float(np.mean(np.asarray(pos) < threshold)) if pos else 0.0
    fa = float(np.mean(np.asarray(neg) >= threshold)) if neg else 0.0
    return fr, fa


def choose_threshold(pos: Sequence[float], neg: Sequence[float]) -> ThresholdChoice:
    """The threshold (midpoint between adjacent scores) maximizing balanced accuracy."""
    values = sorted(set(pos) | set(neg))
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(values)] or values
    best: ThresholdChoice | None = None
    area = auc(pos, neg)
    for t in candidates:
        fr, fa = error_rates(pos, neg, t)
        bal = 1.0 - (fr + fa) / 2
        if best is None or bal > best.balanced_accuracy + 1e-12:
            best = ThresholdChoice(round(t, 4), fr, fa, bal, area)
    if best is None:
        raise ValueError("no scores to calibrate on")
    return best


def threshold_at_refusal(
    pos: Sequence[float], neg: Sequence[float], max_refusal: float = 0.1
) -> ThresholdChoice:
    """The highest threshold that refuses at most ``max_refusal`` of the answerable queries."""
    if not pos:
        raise ValueError("no answerable scores to calibrate on")
    ordered = sorted(pos)
    allowed = int(np.floor(max_refusal * len(ordered)))  # answerable queries we may refuse
    t = ordered[allowed]  # refuses exactly the `allowed` lowest (ties stay answered)
    fr, fa = error_rates(pos, neg, t)
    return ThresholdChoice(round(t, 4), fr, fa, 1.0 - (fr + fa) / 2, auc(pos, neg))
