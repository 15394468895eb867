"""Read stored chunks through the ACL filter: by document (to open a passage) or by id.

The store protocols in :mod:`index.types` have no such read yet. The method this module wants
from every store is::

    def fetch(self, flt: SearchFilter, *, document_id: str | None = None,
              chunk_ids: Sequence[str] | None = None, limit: int = 10_000) -> list[Chunk]:
        '''Stored chunks of ``document_id`` and/or with the given ids that ``flt`` allows,
        in document order; the ACL filter runs inside the engine, like search.'''

A store that has it is used as is. Until every store has it, :func:`engine_fetch` does the same
with each engine's own filtered scroll/term query (Qdrant Edge, Qdrant, tantivy,
OpenSearch), always with
the principal's ACL inside the engine query and :func:`index.types.enforce_acl` after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from core.errors import StoreUnavailableError
from core.models import Chunk
from index.types import Hit, SearchFilter, enforce_acl, require_filter

MAX_CHUNKS = 10_000  # one document never has more; a bound keeps a bad id from scanning all


@runtime_checkable
class FetchingStore(Protocol):
    """A store with the filtered read this module asks :mod:`index.types` to add."""

    def fetch(
        self,
        flt: SearchFilter,
        *,
        document_id: str | None = None,
        chunk_ids: Sequence[str] | None = None,
        limit: int = MAX_CHUNKS,
    ) -> list[Chunk]: ...


def is_id(value: str) -> bool:
    """Whether ``value`` is UUID-shaped, as every document and chunk id is (see core.ids)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def _acl_checked(chunks: list[Chunk], flt: SearchFilter) -> list[Chunk]:
    hits = [Hit(chunk=c, score=0.0, rank=i) for i, c in enumerate(chunks, start=1)]
    return [h.chunk for h in enforce_acl(hits, flt)]


def _edge_fetch(
    shard: Any, flt: SearchFilter, document_id: str | None, chunk_ids: Sequence[str] | None
) -> list[Chunk]:
    import qdrant_edge as qe

    from index.vector_payload import chunk_from_payload
    from index.vectors_edge import engine_filter

    base = engine_filter(flt)
    must: list[Any] = list(base.must or [])
    if document_id is not None:
        must.append(qe.FieldCondition("document_id", match=qe.MatchValue(document_id)))
    if chunk_ids is not None:
        must.append(qe.HasIdCondition(set(chunk_ids)))
    records, _ = shard.scroll(
        qe.ScrollRequest(limit=MAX_CHUNKS, filter=qe.Filter(must=must), with_payload=True, with_vector=False)
    )
    return [chunk_from_payload(r.payload or {}) for r in records]


def _qdrant_fetch(
    store: Any, flt: SearchFilter, document_id: str | None, chunk_ids: Sequence[str] | None
) -> list[Chunk]:
    from qdrant_client.http import models as qm

    from index.vector_payload import chunk_from_payload
    from index.vectors_qdrant import engine_filter

    must: list[qm.Condition] = list(engine_filter(flt).must or [])  # type: ignore[arg-type]
    if document_id is not None:
        must.append(qm.FieldCondition(key="document_id", match=qm.MatchValue(value=document_id)))
    if chunk_ids is not None:
        must.append(qm.HasIdCondition(has_id=list(chunk_ids)))
    with store._translate():
        records, _ = store.client.scroll(
            store.collection,
            scroll_filter=qm.Filter(must=must),
            limit=MAX_CHUNKS,
            with_payload=True,
            with_vectors=False,
        )
    return [chunk_from_payload(r.payload or {}) for r in records]


def _tantivy_fetch(
    store: Any, flt: SearchFilter, document_id: str | None, chunk_ids: Sequence[str] | None
) -> list[Chunk]:
    import tantivy

    store._check_open()
    clauses = [(tantivy.Occur.Must, f) for f in store._filters(flt)]
    if document_id is not None:
        clauses.append((tantivy.Occur.Must, store._term("document_id", document_id)))
    if chunk_ids is not None:
        clauses.append(
            (tantivy.Occur.Must, tantivy.Query.term_set_query(store._schema, "chunk_id", list(chunk_ids)))
        )
    chunks: list[Chunk] = store._stored_chunks(tantivy.Query.boolean_query(clauses))
    return chunks


def _opensearch_fetch(
    store: Any, flt: SearchFilter, document_id: str | None, chunk_ids: Sequence[str] | None
) -> list[Chunk]:
    from index.keywords_opensearch import MAX_WINDOW, chunk_from_source, search_filters, translate_errors

    clauses: list[dict[str, Any]] = search_filters(flt)
    if document_id is not None:
        clauses.append({"term": {"document_id": document_id}})
    if chunk_ids is not None:
        clauses.append({"ids": {"values": list(chunk_ids)}})
    body = {"size": MAX_WINDOW, "track_total_hits": False, "query": {"bool": {"filter": clauses}}}
    with translate_errors(store.index):
        resp = store.client.search(index=store.index, body=body)
    return [chunk_from_source(h["_source"]) for h in resp["hits"]["hits"]]


def engine_fetch(
    store: object,
    flt: SearchFilter,
    *,
    document_id: str | None = None,
    chunk_ids: Sequence[str] | None = None,
) -> list[Chunk]:
    """Chunks of a document and/or by id that ``flt`` allows, from one store, in document order."""
    flt = require_filter(flt)
    if document_id is None and chunk_ids is None:
        raise ValueError("fetch needs a document id or chunk ids: there is no 'read everything'")
    # Ids are UUIDs (core.ids); anything else names nothing, and some engines (Qdrant) reject it
    if chunk_ids is not None:
        chunk_ids = [c for c in chunk_ids if is_id(c)]
        if not chunk_ids:
            return []
    if document_id is not None and not is_id(document_id):
        return []
    if isinstance(store, FetchingStore):
        chunks = store.fetch(flt, document_id=document_id, chunk_ids=chunk_ids)
    else:
        chunks = _fallback(store)(store, flt, document_id, chunk_ids)
    chunks = _acl_checked(chunks, flt)
    return sorted(chunks, key=lambda c: (c.document_id, c.span.start, c.span.end, c.id))


_Fetch = Callable[[Any, SearchFilter, str | None, Sequence[str] | None], list[Chunk]]


def _fallback(store: object) -> _Fetch:
    from index.keywords_opensearch import OpenSearchKeywordStore
    from index.keywords_tantivy import LiveKeywordReader, TantivyKeywordStore
    from index.vectors_edge import EdgeVectorStore, LiveVectorReader
    from index.vectors_qdrant import QdrantVectorStore

    if isinstance(store, EdgeVectorStore):
        return lambda s, f, d, c: _edge_fetch(s._shard, f, d, c)
    if isinstance(store, LiveVectorReader):

        def live(s: Any, f: SearchFilter, d: str | None, c: Sequence[str] | None) -> list[Chunk]:
            with s._reader.lease() as edge:
                return _edge_fetch(edge._shard, f, d, c)

        return live
    if isinstance(store, QdrantVectorStore):
        return _qdrant_fetch
    if isinstance(store, TantivyKeywordStore):
        return _tantivy_fetch
    if isinstance(store, LiveKeywordReader):

        def live_keywords(s: Any, f: SearchFilter, d: str | None, c: Sequence[str] | None) -> list[Chunk]:
            with s._reader.lease() as tantivy_store:
                return _tantivy_fetch(tantivy_store, f, d, c)

        return live_keywords
    if isinstance(store, OpenSearchKeywordStore):
        return _opensearch_fetch
    raise TypeError(
        f"{type(store).__name__} cannot read chunks by document or id yet: it needs a "
        "fetch(flt, *, document_id=None, chunk_ids=None, limit=...) method (see agent.chunk_fetch)"
    )


class StoreChunkReader:
    """:class:`agent.evidence.ChunkReader` over stores tried in order (the next one if one is down).

    Vector stores come first: their payload holds the whole chunk and Qdrant filters by id
    natively. If every store is down, the last :class:`StoreUnavailableError` propagates.
    """

    def __init__(self, stores: Sequence[object]) -> None:
        if not stores:
            raise ValueError("a chunk reader needs at least one store")
        self.stores = tuple(stores)

    def fetch_chunks(
        self,
        flt: SearchFilter,
        *,
        document_id: str | None = None,
        chunk_ids: Sequence[str] | None = None,
    ) -> list[Chunk]:
        error: StoreUnavailableError | None = None
        for store in self.stores:
            try:
                return engine_fetch(store, flt, document_id=document_id, chunk_ids=chunk_ids)
            except StoreUnavailableError as exc:
                error = exc
        assert error is not None
        raise error
