"""The evidence reranker: the learned linear combination, plus sentence-level lexical evidence.

:mod:`retrieval.rerankers.learned` combines what the engines said about a chunk; this adds what
the chunk's best *sentence* says about the query (:class:`retrieval.evidence.SentenceBM25`: a
claim restates one sentence of its abstract, and chunk BM25 dilutes it). Unlike max-similarity
it needs no sentence embeddings, so it costs a tokenization of the candidates per query (no
model call, no cache), and it works on any corpus at once.

The weights are a :class:`retrieval.rerankers.learned.LinearModel` over :data:`FEATURES`,
trained on judged queries by ``bench/train_reranker.py --kind evidence`` (SciFact train).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import ConfigurationError
from retrieval.evidence import SentenceBM25
from retrieval.rerankers.base import Candidate, RerankQuery, minmax
from retrieval.rerankers.learned import STAGE_FEATURES, LinearModel, Matrix, stage_features
from retrieval.results import Stage

FEATURES: tuple[str, ...] = (
    *STAGE_FEATURES,
    "fused_mm",  # fused score, min-max over the list
    "sent_rel",  # best-sentence BM25 / the list's best (0 when no sentence matches)
    "sent_mm",  # best-sentence BM25, min-max over the list
)
PACKAGED_WEIGHTS = Path(__file__).with_name("weights") / "evidence_minilm_scifact.json"


def feature_matrix(query: RerankQuery, candidates: Sequence[Candidate], sentences: SentenceBM25) -> Matrix:
    """One row of :data:`FEATURES` per candidate."""
    n = len(candidates)
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return x
    sent = sentences.scores(query.text, [c.chunk for c in candidates])
    best_sent = max(sent)
    stages = len(STAGE_FEATURES)
    x[:, :stages] = stage_features(candidates)
    x[:, stages] = minmax([c.stages[Stage.FUSED].score for c in candidates])
    if best_sent > 0:
        x[:, stages + 1] = np.asarray(sent, dtype=np.float64) / best_sent
        x[:, stages + 2] = minmax(sent)
    return x


class EvidenceReranker:
    """Scores candidates with a :class:`LinearModel` over :data:`FEATURES`."""

    def __init__(
        self, model: LinearModel, *, sentences: SentenceBM25 | None = None, name: str = "evidence"
    ) -> None:
        if tuple(model.features) != FEATURES:
            raise ConfigurationError(
                f"the evidence model was trained on features {list(model.features)}, this version "
                f"computes {list(FEATURES)}: retrain it with `python bench/train_reranker.py --kind evidence`"
            )
        self.model = model
        self.sentences = sentences or SentenceBM25()
        self.name = name

    @classmethod
    def load(cls, path: Path | None = None) -> EvidenceReranker:
        """The model at ``path``, or the packaged one (SciFact train, MiniLM, tantivy BM25)."""
        target = path or PACKAGED_WEIGHTS
        if not target.is_file():
            raise ConfigurationError(
                f"retrieval.reranker names the evidence reranker but no trained model exists at {target}: "
                "train one with `python bench/train_reranker.py --kind evidence`, or name a file as "
                "'evidence:<path>'"
            )
        name = "evidence" if path is None else f"evidence({target.name})"
        return cls(LinearModel.load(target), name=name)

    def features(self, query: RerankQuery, candidates: Sequence[Candidate]) -> Matrix:
        return feature_matrix(query, candidates, self.sentences)

    def score(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        return [float(s) for s in self.model.predict(self.features(query, candidates))]
