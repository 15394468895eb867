"""Where a run writes: the index layer's stores and catalogs, opened from settings.

This module builds the *same* store and catalog classes the API uses (``index.*``); it adds only
the decision of where a run writes, which differs by mode:

- **Embedded** (Qdrant Edge + tantivy): the API holds the live generation open and the engines
  lock their folders, so every run that changes anything writes a new generation. It starts as a
  copy of the live one (``clone``: a file copy, far cheaper than re-inserting every point), gets
  the run's changes, is flushed and closed, and is then promoted by an atomic pointer swap. With
  no live generation, another model, or ``--full`` it is built from scratch (``rebuild``: chunk
  text from the manifest, vectors from the embedding cache).
- **Server** (Qdrant + OpenSearch): incremental runs write through the aliases into the live
  generation (``live``): upserts and deletes are atomic per call on the servers and readers see
  them at once, so copying a whole collection per run would buy nothing. ``--full``, a model
  change or a first run build a new generation and swap the aliases.

Concurrent runs (two sources at once) serialize on a writer lock around "open target, write"
and around "promote"; promotion re-checks that the live generation is still the one the new
generation was copied from and rebuilds the copy if it is not (:mod:`pipelines.promotion`).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock

from core.settings import BackendMode, Settings
from index.generations import KEYWORDS_DIR, CompositeGenerationCatalog, EmbeddedGenerationCatalog
from index.keywords_tantivy import TantivyKeywordStore
from index.types import GenerationInfo, KeywordStore, VectorStore
from index.vectors_edge import EdgeSearchTuning, EdgeVectorStore, open_generation_writer


class TargetKind(StrEnum):
    CLONE = "clone"  # a new generation copied from the live one, then changed
    REBUILD = "rebuild"  # a new generation written from scratch
    LIVE = "live"  # the live generation itself (server mode, incremental)


@dataclass
class WriteTarget:
    """The two stores a run writes, and which generation they belong to."""

    kind: TargetKind
    vectors: VectorStore
    keywords: KeywordStore
    generation_id: str | None
    base_generation: str | None
    _closed: bool = field(default=False, repr=False)

    def finish(self, *, optimize: bool = False) -> None:
        """Flush and close both stores (a new generation is complete only after this).

        ``optimize`` merges segments and builds the vector index (Qdrant Edge): worth it after a
        bulk write, wasted on a copy that received a handful of points.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if optimize and self.kind is not TargetKind.LIVE:
                merge = getattr(self.vectors, "optimize", None)
                if callable(merge):
                    merge()
        finally:
            try:
                self.vectors.close()
            finally:
                self.keywords.close()

    def abandon(self) -> None:
        """Close without optimizing (the generation is about to be dropped)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.vectors.close()
        with contextlib.suppress(Exception):
            self.keywords.close()


class IndexBackend(Protocol):
    mode: BackendMode

    def live(self) -> GenerationInfo | None: ...
    def open_target(self, kind: TargetKind, model_id: str, dimension: int) -> WriteTarget: ...
    def promote(self, generation_id: str) -> GenerationInfo: ...
    def exists(self, generation_id: str) -> bool: ...
    def drop(self, generation_id: str) -> None: ...
    def gc(self) -> list[str]: ...
    def readers(
        self, *, exact: bool = False, generation_id: str | None = None
    ) -> contextlib.AbstractContextManager[tuple[VectorStore, KeywordStore] | None]: ...
    def writer_lock(self) -> contextlib.AbstractContextManager[None]: ...
    def close(self) -> None: ...


def pipeline_dir(settings: Settings) -> Path:
    return Path(settings.backend.data_dir) / "pipeline"


class _WriterLock:
    """A process-wide file lock that is also re-entrant within a thread (promotion may rebuild)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = FileLock(str(path), timeout=3600)
        self._depth = threading.local()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        depth = getattr(self._depth, "n", 0)
        if depth == 0:
            self._file.acquire()
        self._depth.n = depth + 1
        try:
            yield
        finally:
            self._depth.n -= 1
            if self._depth.n == 0:
                self._file.release()


# --------------------------------------------------------------------------- embedded


class EmbeddedBackend:
    """Qdrant Edge + tantivy in generation folders under ``data_dir/indexes/<index>``."""

    mode = BackendMode.EMBEDDED

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = EmbeddedGenerationCatalog(Path(settings.backend.data_dir), settings.backend.index_name)
        self._lock = _WriterLock(pipeline_dir(settings) / "index-writer.lock")

    def live(self) -> GenerationInfo | None:
        return self.catalog.live()

    def open_target(self, kind: TargetKind, model_id: str, dimension: int) -> WriteTarget:
        if kind is TargetKind.LIVE:
            raise ValueError("embedded engines never write into the live generation")
        live = self.catalog.live()
        clone_from = live.id if kind is TargetKind.CLONE and live is not None else None
        info = self.catalog.create(
            model_id, dimension, clone_from=clone_from, notes={"built_by": f"pipeline:{kind.value}"}
        )
        path = self.catalog.generation_path(info.id)
        if clone_from is not None:
            restore_engine_metadata(self.catalog.generation_path(clone_from), path)
        vectors = open_generation_writer(self.catalog, info.id, model_id)
        try:
            keywords = TantivyKeywordStore(path / KEYWORDS_DIR)
        except BaseException:
            vectors.close()
            raise
        return WriteTarget(kind, vectors, keywords, info.id, live.id if live else None)

    def promote(self, generation_id: str) -> GenerationInfo:
        return self.catalog.promote(generation_id)

    def record(self, generation_id: str, chunk_count: int) -> None:
        self.catalog.record(generation_id, chunk_count=chunk_count)

    def exists(self, generation_id: str) -> bool:
        return any(g.id == generation_id for g in self.catalog.generations())

    def drop(self, generation_id: str) -> None:
        self.catalog.drop(generation_id)

    def gc(self) -> list[str]:
        return self.catalog.gc(self.settings.backend.keep_generations)

    @contextlib.contextmanager
    def readers(
        self, *, exact: bool = False, generation_id: str | None = None
    ) -> Iterator[tuple[VectorStore, KeywordStore] | None]:
        """Read-only stores on the live generation, or on ``generation_id`` (a candidate the
        promotion gate evaluates before it goes live); ``exact``: brute-force vector search.

        Both stores open read-only: they take the shared folder locks (beside the API's readers),
        never the exclusive one a writer or ``drop`` needs, and are closed on exit.
        """
        info = self.catalog.live() if generation_id is None else self.catalog.info(generation_id)
        if info is None:
            yield None
            return
        path = self.catalog.generation_path(info.id)
        vectors = EdgeVectorStore(
            path / "vectors",
            model_id=info.embedding_model,
            dimension=info.dimension,
            writable=False,
            index_name=self.catalog.index_name,
            tuning=EdgeSearchTuning(exact=True) if exact else None,
        )
        try:
            keywords = TantivyKeywordStore(
                path / KEYWORDS_DIR, writable=False, index_name=self.catalog.index_name
            )
            try:
                yield vectors, keywords
            finally:
                keywords.close()
        finally:
            vectors.close()

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        return self._lock.hold()

    def close(self) -> None:
        return None


def restore_engine_metadata(source: Path, clone: Path) -> None:
    """Copy engine files named ``meta.json`` below the top level that a clone lacks.

    ``EmbeddedGenerationCatalog.create(clone_from=...)`` skips the catalog's own ``meta.json``
    with a copytree ignore pattern, which also skips tantivy's ``keywords/meta.json`` (its list of
    segments): the cloned keyword index then opens empty and tantivy deletes the copied segments.
    Restoring the file makes the clone whole; once the catalog copies nested ``meta.json`` files
    itself this finds nothing to do.
    """
    for engine_meta in source.glob("*/**/meta.json"):
        target = clone / engine_meta.relative_to(source)
        if not target.exists() and target.parent.is_dir():
            shutil.copy2(engine_meta, target)


# --------------------------------------------------------------------------- server

_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _shared_client(kind: str, key: str, factory: Any) -> Any:
    """One client per (engine, URL) and process: ``:memory:`` Qdrant only exists inside its client."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((kind, key))
        if client is None:
            client = factory()
            _CLIENTS[(kind, key)] = client
        return client


class ServerBackend:
    """Qdrant + OpenSearch, generations as collections/indexes behind one alias each."""

    mode = BackendMode.SERVER

    def __init__(self, settings: Settings) -> None:
        from index.generations_opensearch import OpenSearchGenerationCatalog
        from index.generations_qdrant import QdrantGenerationCatalog
        from index.keywords_opensearch import client_from_settings
        from index.vectors_qdrant import connect

        self.settings = settings
        backend = settings.backend
        assert backend.qdrant_url is not None
        assert backend.opensearch_url is not None
        self.qdrant = _shared_client("qdrant", backend.qdrant_url, lambda: connect(backend))
        self.opensearch = _shared_client(
            "opensearch",
            f"{backend.opensearch_url}|{backend.opensearch_user}",
            lambda: client_from_settings(backend),
        )
        self.index_name = backend.index_name
        self.qdrant_catalog = QdrantGenerationCatalog(self.qdrant, self.index_name)
        self.opensearch_catalog = OpenSearchGenerationCatalog(self.opensearch, self.index_name)
        self.catalog = CompositeGenerationCatalog([self.qdrant_catalog, self.opensearch_catalog])
        self._lock = _WriterLock(pipeline_dir(settings) / "index-writer.lock")

    def live(self) -> GenerationInfo | None:
        return self.catalog.live()

    def _stores(
        self, vector_collection: str, keyword_index: str, info: GenerationInfo, *, exact: bool = False
    ) -> tuple[Any, Any]:
        from index.keywords_opensearch import OpenSearchKeywordStore
        from index.vectors_qdrant import QdrantVectorStore

        vectors = QdrantVectorStore(
            self.qdrant,
            vector_collection,
            model_id=info.embedding_model,
            dimension=info.dimension,
            index_name=self.index_name,
            exact=exact,
        )
        return vectors, OpenSearchKeywordStore(self.opensearch, keyword_index)

    def open_target(self, kind: TargetKind, model_id: str, dimension: int) -> WriteTarget:
        live = self.catalog.live()
        if kind is TargetKind.LIVE:
            if live is None:
                raise ValueError("no live generation to write into: build one (rebuild) first")
            vectors, keywords = self._stores(self.index_name, self.index_name, live)
            return WriteTarget(kind, vectors, keywords, None, live.id)
        info = self.catalog.create(model_id, dimension)
        vectors, keywords = self._stores(
            self.qdrant_catalog.collection_name(info.id),
            self.opensearch_catalog.index_for(info.id),
            info,
        )
        return WriteTarget(kind, vectors, keywords, info.id, live.id if live else None)

    def promote(self, generation_id: str) -> GenerationInfo:
        return self.catalog.promote(generation_id)

    def record(self, generation_id: str, chunk_count: int) -> None:
        return None

    def exists(self, generation_id: str) -> bool:
        return any(g.id == generation_id for g in self.catalog.generations())

    def drop(self, generation_id: str) -> None:
        self.catalog.drop(generation_id)

    def gc(self) -> list[str]:
        return self.catalog.gc(self.settings.backend.keep_generations)

    @contextlib.contextmanager
    def readers(
        self, *, exact: bool = False, generation_id: str | None = None
    ) -> Iterator[tuple[VectorStore, KeywordStore] | None]:
        """Stores on the live generation (through the aliases), or on ``generation_id``'s own
        collection and index (a candidate the promotion gate evaluates); only searches are made."""
        if generation_id is not None:
            info = next((g for g in self.catalog.generations() if g.id == generation_id), None)
            if info is None:
                yield None
                return
            yield self._stores(
                self.qdrant_catalog.collection_name(info.id),
                self.opensearch_catalog.index_for(info.id),
                info,
                exact=exact,
            )
            return
        live = self.catalog.live()
        if live is None:
            yield None
            return
        vectors, keywords = self._stores(self.index_name, self.index_name, live, exact=exact)
        yield vectors, keywords

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        return self._lock.hold()

    def close(self) -> None:
        return None


def open_backend(settings: Settings) -> EmbeddedBackend | ServerBackend:
    """The backend of ``settings.backend.mode``."""
    if settings.backend.mode is BackendMode.SERVER:
        return ServerBackend(settings)
    return EmbeddedBackend(settings)
