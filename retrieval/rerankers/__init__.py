"""Rerankers behind one protocol, and the factory that reads ``retrieval.reranker``.

``retrieval.reranker`` values:

- ``none``: no reranking (the fused order stands);
- ``maxsim`` or ``maxsim:<weight>``: best-sentence similarity blended with the fused score;
- ``linear`` or ``linear:<file.json>``: the learned combination of stage features
  (the packaged model, or one trained with ``retrieval.evaluation.training``);
- ``evidence`` or ``evidence:<file.json>``: the learned combination of stage features and
  best-sentence BM25 (no sentence embeddings needed);
- ``cross-encoder:<path-or-name>``, or any other value: a sentence-transformers CrossEncoder.
"""

from __future__ import annotations

from pathlib import Path

from core.embedding import Embedder
from retrieval.rerankers.base import Candidate, Reranker, RerankQuery, passage_text
from retrieval.rerankers.cross_encoder import CrossEncoderReranker
from retrieval.rerankers.evidence import EvidenceReranker
from retrieval.rerankers.learned import LinearModel, LinearReranker
from retrieval.rerankers.maxsim import MaxSimReranker, MaxSimScorer, sentence_texts

__all__ = [
    "Candidate",
    "CrossEncoderReranker",
    "EvidenceReranker",
    "LinearModel",
    "LinearReranker",
    "MaxSimReranker",
    "MaxSimScorer",
    "RerankQuery",
    "Reranker",
    "build_reranker",
    "passage_text",
    "sentence_texts",
]

DEFAULT_MAXSIM_WEIGHT = 0.5


def build_reranker(spec: str, embedder: Embedder) -> Reranker | None:
    """The reranker a ``retrieval.reranker`` value names (``None`` for ``none``)."""
    name, _, arg = spec.strip().partition(":")
    kind = name.lower()
    if kind in ("", "none"):
        return None
    if kind == "maxsim":
        return MaxSimReranker(embedder, weight=float(arg) if arg else DEFAULT_MAXSIM_WEIGHT)
    if kind == "linear":
        if arg:
            return LinearReranker(embedder, LinearModel.load(Path(arg)), name=f"linear({Path(arg).name})")
        return LinearReranker.packaged(embedder)
    if kind == "evidence":
        return EvidenceReranker.load(Path(arg) if arg else None)
    target = arg if kind == "cross-encoder" else spec
    return CrossEncoderReranker(
        target,
        device=embedder.settings.device,
        allow_download=embedder.settings.allow_download,
    )
