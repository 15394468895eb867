"""A sentence-transformers ``CrossEncoder`` from any path or hub name the user configures.

No cross-encoder weights ship on PyPI, so nothing here is the default; users point
``retrieval.reranker`` at an ms-marco or bge reranker folder (or a hub name, when downloads
are allowed). The model is loaded lazily, once, on first use, so building a retriever stays
cheap and a missing model fails with a message naming the setting.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ModelLoadError
from retrieval.rerankers.base import Candidate, RerankQuery, passage_text

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder


class CrossEncoderReranker:
    """Scores (query, title + chunk) pairs with a cross-encoder; one logit per pair."""

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        max_length: int | None = 512,
        allow_download: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        path = Path(str(model)).expanduser()
        if not path.exists() and not allow_download:
            raise ModelLoadError(
                f"retrieval.reranker (GW_RETRIEVAL__RERANKER) is {str(model)!r}, which is not an "
                "existing folder, and downloads are off: point it at a local CrossEncoder folder "
                "or set GW_EMBEDDING__ALLOW_DOWNLOAD=true"
            )
        self._source = str(path.resolve()) if path.exists() else str(model)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.allow_download = allow_download
        self.name = f"cross-encoder({Path(self._source).name or self._source})"
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> CrossEncoder:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> CrossEncoder:
        if not self.allow_download:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        try:
            model: CrossEncoder = CrossEncoder(self._source, device=self.device, max_length=self.max_length)
        except Exception as exc:  # transformers raises many kinds
            raise ModelLoadError(
                f"cannot load the cross-encoder {self._source!r} (GW_RETRIEVAL__RERANKER): {exc}"
            ) from exc
        return model

    def score(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        pairs = [(query.text, passage_text(c.chunk)) for c in candidates]
        scores = self.model.predict(
            pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return [float(s) for s in scores.reshape(len(candidates), -1)[:, -1]]
