"""Training the learned linear reranker on judged queries.

For every training query the hybrid retriever's fused top ``depth`` candidates become rows of
:data:`retrieval.rerankers.learned.FEATURES`, labelled 1 when the candidate's document is judged
relevant. A pointwise L2-regularized logistic regression (numpy, Newton's method) fits the
weights; list-relative features carry the per-query context. Queries without any relevant
candidate teach nothing about ordering and are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from retrieval.evaluation.configs import EvalConfig
from retrieval.evaluation.runner import EVAL_AS_OF, EvalSession
from retrieval.rerankers.base import Candidate, RerankQuery
from retrieval.rerankers.learned import FEATURES, LinearModel, Matrix, feature_matrix, fit_logistic
from retrieval.rerankers.maxsim import MaxSimScorer

Featurizer = Callable[[RerankQuery, Sequence[Candidate]], Matrix]
"""One feature row per candidate (the linear reranker's by default, or the evidence reranker's)."""


def linear_features(session: EvalSession) -> Featurizer:
    """The linear reranker's features (max-similarity through the session's embedder)."""
    scorer = MaxSimScorer(session.embedder)

    def rows(query: RerankQuery, candidates: Sequence[Candidate]) -> Matrix:
        return feature_matrix(query, candidates, scorer)

    return rows


def training_rows(
    session: EvalSession,
    config: EvalConfig,
    *,
    depth: int,
    query_ids: Sequence[str] | None = None,
    featurize: Featurizer | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(features, labels, queries used) from one indexed dataset split (or ``query_ids`` of it)."""
    retriever = session.retriever(config.model_copy(update={"reranker": "none"}))
    rows = featurize or linear_features(session)
    hits = session.engine_hits(config.candidates)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    used = 0
    for q in session.qids if query_ids is None else query_ids:
        text = session.dataset.queries[q]
        ranked = retriever.rank(text, hits[q], as_of=EVAL_AS_OF, rerank=False)[:depth]
        relevant = {d for d, g in session.dataset.qrels[q].items() if g > 0}
        labels = np.array(
            [1.0 if session.index.beir_id[r.chunk.document_id] in relevant else 0.0 for r in ranked]
        )
        if not labels.any():
            continue
        cands = [Candidate(r.chunk, r.stages) for r in ranked]
        xs.append(rows(RerankQuery(text, hits[q].query_vector), cands))
        ys.append(labels)
        used += 1
    if not xs:
        raise ValueError(f"no training query of {session.dataset.name} has a relevant candidate")
    return np.vstack(xs), np.concatenate(ys), used


def train_linear(
    sessions: Sequence[EvalSession],
    config: EvalConfig,
    *,
    depth: int = 50,
    l2: float = 1.0,
    query_ids: Sequence[Sequence[str] | None] | None = None,
    featurize: Featurizer | None = None,
    features: Sequence[str] = FEATURES,
) -> LinearModel:
    """Fit a linear reranker on the sessions' judged queries (``query_ids``: per session).

    ``featurize`` and ``features`` (its column names) default to the linear reranker's.
    """
    chosen = query_ids or [None] * len(sessions)
    parts = [
        training_rows(s, config, depth=depth, query_ids=q, featurize=featurize)
        for s, q in zip(sessions, chosen, strict=True)
    ]
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    model = fit_logistic(x, y, l2=l2, features=features)
    info = {
        "trained_on": ", ".join(
            f"{s.dataset.name}/{s.dataset.split}" + ("" if q is None else f" ({len(q)} queries)")
            for s, q in zip(sessions, chosen, strict=True)
        ),
        "queries": str(sum(p[2] for p in parts)),
        "rows": str(len(y)),
        "positives": str(int(y.sum())),
        "depth": str(depth),
        "l2": str(l2),
        "fusion": f"{config.fusion.value} w={config.dense_weight} {config.normalization.value}",
        "embedding_model": sessions[0].embedder.model_id,
        "keyword_backend": sessions[0].index.keywords.backend,
    }
    return LinearModel(
        weights=model.weights,
        mean=model.mean,
        scale=model.scale,
        features=tuple(features),
        bias=model.bias,
        info=info,
    )
