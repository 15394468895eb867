"""Dense vectors in Qdrant Edge: the embedded default (in-process, on disk, no server).

One store is one Edge shard in one generation folder (``generations/<id>/vectors``). Two facts
about Edge shape this module:

- **Locking.** With its write-ahead log on, Edge locks the shard exclusively, so not even a
  second *reader* process could open a live generation. Generations are therefore created
  without a WAL (a generation is built, flushed and only then promoted; a crash mid-build
  leaves an unpromoted generation to drop, never a damaged live one), and Groundwork takes its
  own ``fcntl`` lock beside the shard: readers share it, a writer needs it exclusively
  (:class:`~index.generations.FolderLock`). Several API workers can serve one generation; the
  pipeline can never write into it.
- **Filtered recall.** A filtered HNSW search can silently lose recall when the filter is a
  union of many small ACL values (measured at 100k x 384-d, 100 teams of 1%: recall@10 0.50 at
  10% selectivity, 0.78 at 20%, some queries 0.0; the design note saw 0.28 at 8%). Qdrant builds
  extra graph links only for single payload values above ``full_scan_threshold``, and scans
  exactly only below it. :class:`EdgeSearchTuning` therefore plans each search itself: it asks
  the payload index for the filter's estimated cardinality and searches exactly (via the
  payload index, cost proportional to the filtered set) up to ``exact_max_points``; above that
  it searches the graph with a wide ``hnsw_ef`` and ACORN (two-hop expansion for filters up to
  ``acorn_max_selectivity``). Measured: recall@10 1.000 from 5% to 40% selectivity, and
  unfiltered-level recall above (bench/bench_vectors.py, tests/integration/test_vector_recall.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy.typing as npt
import qdrant_edge as qe

from core.models import Chunk
from index.errors import (
    GenerationNotFoundError,
    GenerationStateError,
    StoreUnavailableError,
)
from index.generations import EmbeddedGenerationCatalog, FolderLock, LiveReader
from index.timestamps import rfc3339
from index.types import (
    MAX_FETCH,
    GenerationInfo,
    Hit,
    SearchFilter,
    enforce_acl,
    fetch_target,
    fetched,
    require_filter,
)
from index.vector_payload import (
    DATETIME_FIELDS,
    KEYWORD_FIELDS,
    acl_update,
    as_matrix,
    check_limit,
    check_model,
    chunk_from_payload,
    chunk_payload,
    query_vector,
)

BACKEND = "qdrant-edge"
STORE_FILE = "groundwork-store.json"  # model id and dimension, beside Edge's own files
_BATCH = 512
_SCROLL_PAGE = 2048


@dataclass(frozen=True)
class EdgeSearchTuning:
    """Index and search settings; the defaults keep filtered recall@10 >= 0.99 (measured).

    Fixed when a shard is created: ``m``, ``ef_construct``, ``indexing_threshold_kb`` and
    ``full_scan_threshold_kb`` (Qdrant's default 10,000 KB: every ACL value holding more than
    ~6.7k 384-d vectors gets its own extra graph links). Per search, and free to differ per reader: the rest.
    ``exact_max_points`` is where exact search stops paying off: 20k x 384-d is a few
    milliseconds of dot products; ``exact=True`` forces exact search always (the reference).
    """

    m: int = 16
    ef_construct: int = 128
    full_scan_threshold_kb: int = 10_000
    indexing_threshold_kb: int | None = None  # Edge's default: segments above ~10 MB get a graph
    exact_max_points: int = 20_000
    hnsw_ef: int | None = 256
    acorn: bool = True
    acorn_max_selectivity: float = 0.4
    exact: bool = False

    def hnsw(self) -> qe.HnswIndexConfig:
        return qe.HnswIndexConfig(
            m=self.m, ef_construct=self.ef_construct, full_scan_threshold=self.full_scan_threshold_kb
        )

    def graph_params(self) -> qe.SearchParams:
        acorn = (
            qe.AcornSearchParams(enable=True, max_selectivity=self.acorn_max_selectivity)
            if self.acorn
            else None
        )
        return qe.SearchParams(hnsw_ef=self.hnsw_ef, exact=self.exact, acorn=acorn)

    def params_for(self, shard: qe.EdgeShard, flt: qe.Filter) -> qe.SearchParams:
        """Exact search for filters the payload index estimates small, the graph otherwise."""
        if self.exact:
            return qe.SearchParams(exact=True)
        if self.exact_max_points > 0:
            estimate = shard.count(qe.CountRequest(exact=False, filter=flt))
            if estimate <= self.exact_max_points:
                return qe.SearchParams(exact=True)
        return self.graph_params()


class EdgeVectorStore:
    """A VectorStore on one Qdrant Edge shard folder; ``writable=False`` for readers."""

    backend = BACKEND

    def __init__(
        self,
        path: Path,
        *,
        model_id: str,
        dimension: int,
        writable: bool = True,
        index_name: str = "groundwork",
        tuning: EdgeSearchTuning | None = None,
    ) -> None:
        if dimension <= 0:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self.path = Path(path)
        self.model_id = model_id
        self.dimension = dimension
        self.writable = writable
        self.index_name = index_name
        self.tuning = tuning or EdgeSearchTuning()
        self._where = f"Qdrant Edge index '{index_name}' at {self.path}"
        self._lock = FolderLock(self.path.parent / f"{self.path.name}.lock", exclusive=writable)
        try:
            self._shard = self._open()
        except BaseException:
            self._lock.release()
            raise
        self._closed = False

    # ---- opening

    def _open(self) -> qe.EdgeShard:
        store_file = self.path / STORE_FILE
        if store_file.is_file():
            recorded = json.loads(store_file.read_text("utf-8"))
            check_model(
                self._where, recorded["model_id"], recorded["dimension"], self.model_id, self.dimension
            )
            try:
                return qe.EdgeShard.load(str(self.path))
            except Exception as exc:  # Edge raises bare Exception
                raise StoreUnavailableError(
                    BACKEND, self.index_name, f"cannot load {self.path}: {exc}"
                ) from exc
        if not self.writable:
            raise GenerationNotFoundError(f"{self._where} holds no vector store (nothing was written)")
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine),
            hnsw_config=self.tuning.hnsw(),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.tuning.indexing_threshold_kb),
            wal_enabled=False,
        )
        try:
            shard = qe.EdgeShard.create(str(self.path), config)
        except Exception as exc:  # e.g. segments left by a create that crashed before STORE_FILE
            raise StoreUnavailableError(
                BACKEND,
                self.index_name,
                f"cannot create a store at {self.path} ({exc}); drop this generation",
            ) from exc
        for name in KEYWORD_FIELDS:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        for name in DATETIME_FIELDS:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Datetime))
        shard.flush()
        # written last: a folder without it is an unfinished create, never loaded as a store
        (self.path / STORE_FILE).write_text(
            json.dumps({"model_id": self.model_id, "dimension": self.dimension}), encoding="utf-8"
        )
        return shard

    # ---- writes

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]] | npt.NDArray[Any]) -> None:
        self._writable("upsert into")
        matrix = as_matrix(vectors, len(chunks), self.dimension, self._where, self.model_id)
        for start in range(0, len(chunks), _BATCH):
            points = [
                qe.Point(chunk.id, row.tolist(), chunk_payload(chunk, self.model_id))
                for chunk, row in zip(
                    chunks[start : start + _BATCH], matrix[start : start + _BATCH], strict=True
                )
            ]
            self._shard.update(qe.UpdateOperation.upsert_points(points))

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        self._writable("delete from")
        if document_ids:
            self._shard.update(qe.UpdateOperation.delete_points_by_filter(_documents(document_ids)))

    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int:
        """Rewrite the payload in place (``set_payload``): vectors are never touched."""
        self._writable("update ACLs in")
        update = acl_update(acl, updated_at)
        flt = _documents([document_id])
        touched = self._shard.count(qe.CountRequest(exact=True, filter=flt))
        if touched:
            self._shard.update(qe.UpdateOperation.set_payload_by_filter(flt, update))
        return touched

    def flush(self) -> None:
        self._shard.flush()

    def optimize(self) -> bool:
        """Merge segments and build the HNSW graph; call once after a bulk build, before promotion."""
        self._writable("optimize")
        return self._shard.optimize()

    # ---- reads

    def search(self, vector: Sequence[float] | npt.NDArray[Any], flt: SearchFilter, limit: int) -> list[Hit]:
        flt = require_filter(flt)
        check_limit(limit)
        query = query_vector(vector, self.dimension, self._where, self.model_id)
        filter_ = engine_filter(flt)
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(query),
            filter=filter_,
            params=self.tuning.params_for(self._shard, filter_),
            with_payload=True,
            with_vector=False,
        )
        points = self._shard.query(request)
        hits = [
            Hit(chunk=chunk_from_payload(p.payload or {}), score=float(p.score), rank=i)
            for i, p in enumerate(points, start=1)
        ]
        return enforce_acl(hits, flt)

    def fetch(
        self, flt: SearchFilter, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]:
        """Stored chunks by document and/or id through the same engine filter as search."""
        target = fetch_target(flt, document_id, chunk_ids)
        if target is None:
            return []
        must = _conditions(target.flt)
        if target.document_id is not None:
            must.append(qe.FieldCondition("document_id", match=qe.MatchValue(target.document_id)))
        if target.chunk_ids is not None:
            must.append(qe.HasIdCondition(set(target.chunk_ids)))
        chunks = [
            chunk_from_payload(r.payload or {})
            for r in self._scroll(qe.Filter(must=must), with_payload=True, most=MAX_FETCH)
        ]
        return fetched(chunks, target.flt)

    def count(self) -> int:
        return int(self._shard.count(qe.CountRequest(exact=True)))

    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]:
        must: list[Any] = []
        if document_id is not None:
            must.append(qe.FieldCondition("document_id", match=qe.MatchValue(document_id)))
        if source_id is not None:
            must.append(qe.FieldCondition("source_id", match=qe.MatchValue(source_id)))
        flt = qe.Filter(must=must) if must else None
        return {str(r.id) for r in self._scroll(flt, with_payload=False)}

    def _scroll(self, flt: qe.Filter | None, *, with_payload: bool, most: int | None = None) -> list[Any]:
        """Every record ``flt`` selects (at most ``most``), page by page."""
        records: list[Any] = []
        offset: Any = None
        while most is None or len(records) < most:
            limit = _SCROLL_PAGE if most is None else min(_SCROLL_PAGE, most - len(records))
            page, offset = self._shard.scroll(
                qe.ScrollRequest(
                    offset=offset, limit=limit, filter=flt, with_payload=with_payload, with_vector=False
                )
            )
            records.extend(page)
            if offset is None:
                break
        return records

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors by chunk id (tests prove ACL updates never re-embed)."""
        records = self._shard.retrieve(list(chunk_ids), with_payload=False, with_vector=True)
        out: dict[str, list[float]] = {}
        for r in records:
            if isinstance(r.vector, list):
                out[str(r.id)] = [x for x in r.vector if isinstance(x, float)]
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.writable:
                self._shard.flush()
            self._shard.close()
        finally:
            self._lock.release()

    def _writable(self, action: str) -> None:
        if not self.writable:
            raise GenerationStateError(
                f"cannot {action} {self._where}: it was opened read-only (a reader of a live "
                "generation); writers open a new generation with open_generation_writer()"
            )


def _documents(document_ids: Sequence[str]) -> qe.Filter:
    return qe.Filter(must=[qe.FieldCondition("document_id", match=qe.MatchAny(list(document_ids)))])


def engine_filter(flt: SearchFilter) -> qe.Filter:
    """The SearchFilter as an Edge filter: ACL ``match any`` plus optional narrowing."""
    return qe.Filter(must=_conditions(flt))


def _conditions(flt: SearchFilter) -> list[Any]:
    must: list[Any] = [qe.FieldCondition("acl", match=qe.MatchAny(list(flt.acl.terms)))]
    if flt.source_ids is not None:
        must.append(qe.FieldCondition("source_id", match=qe.MatchAny(list(flt.source_ids))))
    if flt.updated_after is not None or flt.updated_before is not None:
        must.append(
            qe.FieldCondition(
                "updated_at",
                range=qe.RangeDateTime(
                    gte=rfc3339(flt.updated_after) if flt.updated_after else None,
                    lte=rfc3339(flt.updated_before) if flt.updated_before else None,
                ),
            )
        )
    return must


# --------------------------------------------------------------------------- generations


def open_generation_writer(
    catalog: EmbeddedGenerationCatalog,
    generation_id: str,
    model_id: str,
    *,
    tuning: EdgeSearchTuning | None = None,
) -> EdgeVectorStore:
    """The writable vector store of an unpromoted generation (the live one is refused)."""
    path = catalog.writable_path(generation_id)
    info = catalog.info(generation_id)
    check_model(
        f"generation '{generation_id}' of index '{catalog.index_name}'",
        info.embedding_model,
        info.dimension,
        model_id,
        info.dimension,
    )
    return EdgeVectorStore(
        path / "vectors",
        model_id=model_id,
        dimension=info.dimension,
        writable=True,
        index_name=catalog.index_name,
        tuning=tuning,
    )


class LiveVectorReader:
    """A :class:`index.types.VectorReader` on whatever generation is live, following promotions
    and rollbacks without restart. It has no write methods: it is what the API serves from.

    Before each call it stats the catalog's ``LIVE`` file (about a microsecond); after a
    promotion it opens the new generation read-only and closes the old one once idle.
    ``model_id``, when given, is checked against every generation opened: an API whose
    embedder differs from the live generation's model fails loudly instead of returning noise.
    """

    backend = BACKEND

    def __init__(
        self,
        catalog: EmbeddedGenerationCatalog,
        *,
        model_id: str | None = None,
        tuning: EdgeSearchTuning | None = None,
    ) -> None:
        self.catalog = catalog
        self._expected_model = model_id
        self._tuning = tuning
        self._reader: LiveReader[EdgeVectorStore] = LiveReader(catalog, self._open, EdgeVectorStore.close)

    def _open(self, info: GenerationInfo, folder: Path) -> EdgeVectorStore:
        return EdgeVectorStore(
            folder / "vectors",
            model_id=self._expected_model or info.embedding_model,
            dimension=info.dimension,
            writable=False,
            index_name=self.catalog.index_name,
            tuning=self._tuning,
        )

    @property
    def generation_id(self) -> str | None:
        return self._reader.generation_id

    @property
    def reopened(self) -> int:
        return self._reader.reopened

    @property
    def model_id(self) -> str:
        with self._reader.lease() as store:
            return store.model_id

    @property
    def dimension(self) -> int:
        with self._reader.lease() as store:
            return store.dimension

    def search(self, vector: Sequence[float] | npt.NDArray[Any], flt: SearchFilter, limit: int) -> list[Hit]:
        with self._reader.lease() as store:
            return store.search(vector, flt, limit)

    def fetch(
        self, flt: SearchFilter, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]:
        with self._reader.lease() as store:
            return store.fetch(flt, document_id=document_id, chunk_ids=chunk_ids)

    def count(self) -> int:
        with self._reader.lease() as store:
            return store.count()

    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]:
        with self._reader.lease() as store:
            return store.chunk_ids(document_id=document_id, source_id=source_id)

    def close(self) -> None:
        self._reader.close()
