"""A learned linear combination of stage features: BM25, dense, max-similarity, fused.

Fusion weights one BM25 score against one cosine; a small linear model over a handful of
features per candidate (raw and list-relative scores, reciprocal ranks, which engine missed it,
and the best-sentence cosine of :mod:`retrieval.rerankers.maxsim`) learns how much each signal
is worth from judged queries (SciFact train, ``retrieval.evaluation.training``). It is a dot
product at query time: no extra model, and its weights are a small JSON file that says what
it was trained on.

Features are standardized with the training set's mean and spread before the dot product, and
list-relative features (a score minus the best score in the candidate list) make the model
insensitive to each query's score scale.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.embedding import Embedder
from core.errors import ConfigurationError
from retrieval.rerankers.base import Candidate, RerankQuery, minmax
from retrieval.rerankers.maxsim import MaxSimScorer
from retrieval.results import Stage

STAGE_FEATURES: tuple[str, ...] = (
    "bm25_rel",  # BM25 score / best BM25 score in the list (0 when BM25 missed it)
    "bm25_recip",  # 1 / sqrt(BM25 rank) (0 when missed)
    "bm25_missing",
    "dense_cos",  # cosine (the list's lowest cosine when dense missed it)
    "dense_rel",  # cosine - best cosine in the list
    "dense_recip",
    "dense_missing",
)
"""What the engines said about each candidate: the first columns of every learned reranker."""

FEATURES: tuple[str, ...] = (
    *STAGE_FEATURES,
    "maxsim",  # best-sentence cosine
    "maxsim_rel",  # maxsim - best maxsim in the list
    "fused_mm",  # fused score, min-max over the list
)
PACKAGED_WEIGHTS = Path(__file__).with_name("weights") / "linear_minilm_scifact.json"

Matrix = npt.NDArray[np.float64]


def stage_features(candidates: Sequence[Candidate]) -> Matrix:
    """One row of :data:`STAGE_FEATURES` per candidate."""
    x = np.zeros((len(candidates), len(STAGE_FEATURES)), dtype=np.float64)
    bm25 = [c.stages.get(Stage.BM25) for c in candidates]
    dense = [c.stages.get(Stage.DENSE) for c in candidates]
    best_bm25 = max((s.score for s in bm25 if s is not None), default=0.0)
    cosines = [s.score for s in dense if s is not None]
    low_cos = min(cosines, default=0.0)
    best_cos = max(cosines, default=0.0)
    for i, (b, d) in enumerate(zip(bm25, dense, strict=True)):
        cos = d.score if d is not None else low_cos
        x[i] = (
            b.score / best_bm25 if b is not None and best_bm25 > 0 else 0.0,
            1.0 / math.sqrt(b.rank) if b is not None else 0.0,
            1.0 if b is None else 0.0,
            cos,
            cos - best_cos,
            1.0 / math.sqrt(d.rank) if d is not None else 0.0,
            1.0 if d is None else 0.0,
        )
    return x


def feature_matrix(query: RerankQuery, candidates: Sequence[Candidate], maxsim: MaxSimScorer) -> Matrix:
    """One row of :data:`FEATURES` per candidate."""
    n = len(candidates)
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return x
    sims = np.asarray(maxsim.maxsim(query, [c.chunk for c in candidates]), dtype=np.float64)
    stages = len(STAGE_FEATURES)
    x[:, :stages] = stage_features(candidates)
    x[:, stages] = sims
    x[:, stages + 1] = sims - sims.max()
    x[:, stages + 2] = minmax([c.stages[Stage.FUSED].score for c in candidates])
    return x


@dataclass(frozen=True)
class LinearModel:
    """Standardized features dotted with weights; the JSON form records its provenance.

    ``features`` names the columns; the reranker that loads a model checks they are its own.
    """

    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    features: tuple[str, ...] = FEATURES
    bias: float = 0.0
    info: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not len(self.weights) == len(self.mean) == len(self.scale) == len(self.features):
            raise ValueError("linear model: weights, mean, scale and features differ in length")

    def predict(self, x: Matrix) -> npt.NDArray[np.float64]:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(z @ np.asarray(self.weights) + self.bias, dtype=np.float64)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "features": list(self.features),
            "weights": list(self.weights),
            "bias": self.bias,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "info": self.info,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            weights=tuple(float(w) for w in data["weights"]),
            mean=tuple(float(m) for m in data["mean"]),
            scale=tuple(float(s) for s in data["scale"]),
            features=tuple(data["features"]),
            bias=float(data.get("bias", 0.0)),
            info={str(k): str(v) for k, v in data.get("info", {}).items()},
        )


def fit_logistic(
    x: Matrix,
    y: npt.NDArray[np.float64],
    *,
    l2: float = 1.0,
    iterations: int = 50,
    features: Sequence[str] | None = None,
) -> LinearModel:
    """Pointwise L2-regularized logistic regression by Newton's method (numpy only).

    ``features`` names ``x``'s columns (default: this module's :data:`FEATURES`).
    """
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0  # the bias is not regularized
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return LinearModel(
        weights=tuple(float(v) for v in w[:-1]),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        features=FEATURES if features is None else tuple(features),
        bias=float(w[-1]),
    )


class LinearReranker:
    """Scores candidates with a :class:`LinearModel` over :data:`FEATURES`."""

    def __init__(self, embedder: Embedder, model: LinearModel, *, name: str = "linear") -> None:
        # the model file names its features; a file trained for another reranker (the
        # evidence reranker's) or an older feature set must not be dotted with these columns
        if tuple(model.features) != FEATURES:
            raise ValueError(
                f"linear model was trained on features {list(model.features)}, "
                f"this version computes {list(FEATURES)}: retrain it"
            )
        self.model = model
        self.maxsim = MaxSimScorer(embedder)
        self.name = name

    @classmethod
    def packaged(cls, embedder: Embedder) -> LinearReranker:
        """The model trained by ``bench/train_reranker.py`` (SciFact train, MiniLM, tantivy BM25)."""
        if not PACKAGED_WEIGHTS.is_file():
            raise ConfigurationError(
                f"retrieval.reranker is 'linear' but no trained model exists at {PACKAGED_WEIGHTS}: "
                "train one with `python bench/train_reranker.py`, or name a file as 'linear:<path>'"
            )
        return cls(embedder, LinearModel.load(PACKAGED_WEIGHTS), name="linear")

    def score(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        return [float(s) for s in self.model.predict(feature_matrix(query, candidates, self.maxsim))]
