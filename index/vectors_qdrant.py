"""Dense vectors in a Qdrant server or cluster, through ``qdrant-client``.

The store talks to one collection: a generation's own collection ``<index>__<id>`` while the
pipeline fills it, or the alias ``<index>`` (the live generation, see
:class:`index.generations_qdrant.QdrantGenerationCatalog`) for the API, which therefore follows
promotions with no reopening at all. Tests run the same client API against
``QdrantClient(":memory:")``; no Qdrant server binary can be installed here.

Every call to the server goes through :func:`translate_qdrant_errors`: a server that is down,
refuses connections or times out raises :class:`~index.errors.StoreUnavailableError` within the
client timeout (``settings.backend.timeout_s``), never hangs and never leaks a transport error.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx
import numpy.typing as npt
from qdrant_client import QdrantClient
from qdrant_client.http import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core.models import Chunk
from core.settings import BackendSettings
from index.errors import (
    GenerationNotFoundError,
    GenerationStateError,
    ModelMismatchError,
    StoreUnavailableError,
)
from index.types import (
    GENERATION_META_KEY,
    MAX_FETCH,
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

BACKEND = "qdrant"
_BATCH = 256
_SCROLL_PAGE = 1024


def connect(settings: BackendSettings) -> QdrantClient:
    """A client for ``settings.qdrant_url`` (``':memory:'`` for tests) with the backend timeout.

    ``check_compatibility`` is off: it would make a blocking request (and warn) at construction;
    the first real call reports an unreachable server as StoreUnavailableError instead.
    """
    url = settings.qdrant_url
    if not url:
        raise ValueError("backend.qdrant_url (GW_BACKEND__QDRANT_URL) is not set")
    if url == ":memory:":
        return QdrantClient(":memory:")
    # qdrant-client types the timeout as int but hands it to httpx, which takes float seconds
    timeout: Any = settings.timeout_s
    return QdrantClient(url=url, api_key=settings.qdrant_api_key, timeout=timeout, check_compatibility=False)


@contextlib.contextmanager
def translate_qdrant_errors(backend: str, index: str) -> Iterator[None]:
    """Turn transport failures and server errors into StoreUnavailableError."""
    try:
        yield
    except (ResponseHandlingException, httpx.TransportError, TimeoutError, ConnectionError) as exc:
        detail = str(getattr(exc, "source", None) or exc) or type(exc).__name__
        raise StoreUnavailableError(backend, index, detail) from exc
    except UnexpectedResponse as exc:
        if exc.status_code is not None and exc.status_code >= 500:
            raise StoreUnavailableError(
                backend, index, f"HTTP {exc.status_code} {exc.reason_phrase}"
            ) from exc
        raise


def is_local(client: QdrantClient) -> bool:
    """True for qdrant-client's local mode (``:memory:`` or ``path=``): brute force, no indexes."""
    options = client.init_options
    return options.get("location") == ":memory:" or options.get("path") is not None


def create_generation_collection(
    client: QdrantClient, name: str, dimension: int, *, metadata: dict[str, Any] | None = None
) -> None:
    """A collection with cosine vectors and the payload indexes every search relies on."""
    client.create_collection(
        collection_name=name,
        vectors_config=qm.VectorParams(size=dimension, distance=qm.Distance.COSINE),
        metadata=metadata,
    )
    with warnings.catch_warnings():
        # local mode (":memory:", tests) warns that payload indexes do nothing there; a server uses them
        warnings.filterwarnings("ignore", message="Payload indexes have no effect", category=UserWarning)
        for field in KEYWORD_FIELDS:
            client.create_payload_index(name, field, field_schema=qm.PayloadSchemaType.KEYWORD)
        for field in DATETIME_FIELDS:
            client.create_payload_index(name, field, field_schema=qm.PayloadSchemaType.DATETIME)


def engine_filter(flt: SearchFilter) -> qm.Filter:
    """The SearchFilter as a Qdrant filter: ACL ``match any`` plus optional narrowing."""
    return qm.Filter(must=_conditions(flt))


def _conditions(flt: SearchFilter) -> list[qm.Condition]:
    must: list[qm.Condition] = [qm.FieldCondition(key="acl", match=qm.MatchAny(any=list(flt.acl.terms)))]
    if flt.source_ids is not None:
        must.append(qm.FieldCondition(key="source_id", match=qm.MatchAny(any=list(flt.source_ids))))
    if flt.updated_after is not None or flt.updated_before is not None:
        must.append(
            qm.FieldCondition(
                key="updated_at", range=qm.DatetimeRange(gte=flt.updated_after, lte=flt.updated_before)
            )
        )
    return must


def _documents(document_ids: Sequence[str]) -> qm.Filter:
    return qm.Filter(must=[qm.FieldCondition(key="document_id", match=qm.MatchAny(any=list(document_ids)))])


class QdrantVectorStore:
    """A VectorStore on one Qdrant collection or alias.

    ``exact=True`` makes every search brute force (the recall reference); by default the server
    plans filtered searches itself: with payload indexes on ``acl`` it scans the filtered points
    exactly when a filter is restrictive, which keeps filtered recall high (measured in
    tests/integration/test_vector_recall.py).

    ``writable=False`` refuses every write (the API's store on the live alias; see
    :meth:`index.generations_qdrant.QdrantGenerationCatalog.reader`).
    """

    backend = BACKEND

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        *,
        model_id: str,
        dimension: int,
        index_name: str | None = None,
        hnsw_ef: int | None = 128,
        exact: bool = False,
        writable: bool = True,
    ) -> None:
        if dimension <= 0:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self.client = client
        self.collection = collection
        self.model_id = model_id
        self.dimension = dimension
        self.index_name = index_name or collection
        self.writable = writable
        # local mode is always exact and warns about search params, so it gets none
        self._params = None if is_local(client) else qm.SearchParams(hnsw_ef=hnsw_ef, exact=exact)
        self._where = f"Qdrant collection '{collection}'"
        self._checked = False

    def check(self) -> None:
        """Verify the collection exists and was built with this model; cached after success.

        Through the alias this checks the generation live at first use; a promotion to another
        model needs the API restarted with that model's embedder anyway (queries of the old
        dimension are then refused by the server).
        """
        if self._checked:
            return
        try:
            with self._translate():
                # get_collection resolves aliases (the live store reads through one)
                config = self.client.get_collection(self.collection).config
        except (UnexpectedResponse, ValueError) as exc:  # server: HTTP 404; local mode: ValueError
            if isinstance(exc, UnexpectedResponse) and exc.status_code != 404:
                raise
            raise GenerationNotFoundError(
                f"{self._where} does not exist: create a generation (and promote it for readers)"
            ) from exc
        vectors = config.params.vectors
        size = vectors.size if isinstance(vectors, qm.VectorParams) else None
        if size != self.dimension:
            raise ModelMismatchError(
                f"{self._where} holds {size}-d vectors, expected {self.dimension}-d for model "
                f"'{self.model_id}', got a collection of another dimension: open the generation built "
                "for this model, or build a new generation and promote it"
            )
        entry = (config.metadata or {}).get(GENERATION_META_KEY)
        if isinstance(entry, dict) and isinstance(entry.get("info"), dict):
            info = entry["info"]
            check_model(
                self._where, info["embedding_model"], info["dimension"], self.model_id, self.dimension
            )
        self._checked = True

    # ---- writes

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]] | npt.NDArray[Any]) -> None:
        self._writable("upsert into")
        self.check()
        matrix = as_matrix(vectors, len(chunks), self.dimension, self._where, self.model_id)
        with self._translate():
            for start in range(0, len(chunks), _BATCH):
                points = [
                    qm.PointStruct(
                        id=chunk.id, vector=row.tolist(), payload=chunk_payload(chunk, self.model_id)
                    )
                    for chunk, row in zip(
                        chunks[start : start + _BATCH], matrix[start : start + _BATCH], strict=True
                    )
                ]
                self.client.upsert(self.collection, points=points, wait=True)

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        self._writable("delete from")
        if not document_ids:
            return
        self.check()
        with self._translate():
            self.client.delete(
                self.collection, points_selector=qm.FilterSelector(filter=_documents(document_ids)), wait=True
            )

    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int:
        """Rewrite the payload in place (``set_payload``): vectors are never touched."""
        self._writable("update ACLs in")
        self.check()
        update = acl_update(acl, updated_at)
        flt = _documents([document_id])
        with self._translate():
            touched = self.client.count(self.collection, count_filter=flt, exact=True).count
            if touched:
                self.client.set_payload(self.collection, payload=update, points=flt, wait=True)
        return touched

    # ---- reads

    def search(self, vector: Sequence[float] | npt.NDArray[Any], flt: SearchFilter, limit: int) -> list[Hit]:
        flt = require_filter(flt)
        check_limit(limit)
        query = query_vector(vector, self.dimension, self._where, self.model_id)
        self.check()
        with self._translate():
            points = self.client.query_points(
                self.collection,
                query=query,
                query_filter=engine_filter(flt),
                limit=limit,
                search_params=self._params,
                with_payload=True,
                with_vectors=False,
            ).points
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
        self.check()
        must = _conditions(target.flt)
        if target.document_id is not None:
            must.append(qm.FieldCondition(key="document_id", match=qm.MatchValue(value=target.document_id)))
        if target.chunk_ids is not None:
            must.append(qm.HasIdCondition(has_id=list(target.chunk_ids)))
        records = self._scroll(qm.Filter(must=must), with_payload=True, most=MAX_FETCH)
        return fetched([chunk_from_payload(r.payload or {}) for r in records], target.flt)

    def count(self) -> int:
        self.check()
        with self._translate():
            return int(self.client.count(self.collection, exact=True).count)

    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]:
        self.check()
        must: list[qm.Condition] = []
        if document_id is not None:
            must.append(qm.FieldCondition(key="document_id", match=qm.MatchValue(value=document_id)))
        if source_id is not None:
            must.append(qm.FieldCondition(key="source_id", match=qm.MatchValue(value=source_id)))
        flt = qm.Filter(must=must) if must else None
        return {str(r.id) for r in self._scroll(flt, with_payload=False)}

    def _scroll(
        self, flt: qm.Filter | None, *, with_payload: bool, most: int | None = None
    ) -> list[qm.Record]:
        """Every record ``flt`` selects (at most ``most``), page by page."""
        records: list[qm.Record] = []
        offset: Any = None
        with self._translate():
            while most is None or len(records) < most:
                page, offset = self.client.scroll(
                    self.collection,
                    scroll_filter=flt,
                    limit=_SCROLL_PAGE if most is None else min(_SCROLL_PAGE, most - len(records)),
                    offset=offset,
                    with_payload=with_payload,
                    with_vectors=False,
                )
                records.extend(page)
                if offset is None:
                    break
        return records

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors by chunk id (tests prove ACL updates never re-embed)."""
        with self._translate():
            records = self.client.retrieve(self.collection, ids=list(chunk_ids), with_vectors=True)
        out: dict[str, list[float]] = {}
        for r in records:
            if isinstance(r.vector, list):
                out[str(r.id)] = [float(x) for x in r.vector if isinstance(x, float | int)]
        return out

    def close(self) -> None:
        """The client is shared (catalog, stores); its owner closes it."""

    def _translate(self) -> contextlib.AbstractContextManager[None]:
        return translate_qdrant_errors(BACKEND, self.index_name)

    def _writable(self, action: str) -> None:
        if not self.writable:
            raise GenerationStateError(
                f"cannot {action} {self._where}: it was opened read-only (a reader of the live "
                "alias); writers fill a new generation's collection (QdrantGenerationCatalog.store)"
            )
