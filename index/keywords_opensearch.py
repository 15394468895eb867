"""BM25 keyword store on OpenSearch: the scale-out keyword backend.

One store reads and writes one OpenSearch index name: a generation's concrete index
(``<index>__<generation>``, see :mod:`index.generations_opensearch`) or the alias ``<index>``
that names the live generation (so a reader follows promotions with no reopen). Why the choices:

- **BM25 k1=0.9, b=0.4** (the index's default similarity), the values of the reference runs in
  ``/work/shared/datasets/README.md``; OpenSearch's own default is 1.2/0.75.
- **English analysis identical to the tantivy store's**, defined once in :mod:`index.analysis`
  (this module never imports tantivy), close to the reference run's. The built-in ``english``
  analyzer (standard tokenizer, Porter) scores about the same on SciFact but keeps
  ``robotics.com`` or ``5,000`` as one token where tantivy sees two, so the two backends would
  match different chunks for the same words.
- **One analysed field** ``body``, filled by ``copy_to`` from ``title`` and ``text``. BM25 sees
  one length and one term frequency (as for a concatenation), and because ``copy_to`` is
  computed on the server from ``_source``, an ``update_by_query`` that rewrites only the ACL
  keeps the text searchable without the caller sending it again.
- **User text goes into a ``match`` query**: analysed, never parsed, so quotes, colons, ``AND``
  or brackets can neither raise nor address another field.
- **The ACL is a ``terms`` filter inside the query** (bool ``filter`` over the keyword field
  ``acl``), so forbidden chunks never take a top-k slot; :func:`index.types.enforce_acl`
  re-checks the hits. An empty ACL indexes no term and is matched by no filter.
- **updated_at is filtered on exact microseconds** (``updated_us``, a long): OpenSearch ``date``
  keeps milliseconds, ``date_nanos`` cannot hold dates before 1970.
- **Writes are visible when the call returns**: bulk writes are followed by a refresh; deletes
  and ACL updates run ``*_by_query`` with ``refresh=true``.
- **Bulk failures are reported per item**: 429/502/503/504/timeouts are retried with exponential
  backoff; whatever still fails (and anything not retryable, e.g. a mapping error) is raised as
  :class:`index.errors.BulkWriteError` naming each chunk id and reason. A refused connection
  fails at once (:class:`index.errors.StoreUnavailableError`): retrying a dead node only delays
  the error.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import (
    ConnectionError as OSConnectionError,
)
from opensearchpy.exceptions import (
    ConnectionTimeout,
    NotFoundError,
    TransportError,
)

from core.acl import normalize_acl
from core.models import Chunk
from core.settings import BackendSettings
from index.analysis import OPENSEARCH_ANALYSIS
from index.errors import (
    BulkItemFailure,
    BulkWriteError,
    GenerationNotFoundError,
    GenerationStateError,
    IndexLayerError,
    StoreUnavailableError,
)
from index.timestamps import as_utc, to_micros
from index.types import MAX_FETCH, Hit, SearchFilter, enforce_acl, fetch_target, fetched, require_filter

BACKEND = "opensearch"
MAPPING_VERSION = 1
MAX_WINDOW = 10_000  # OpenSearch's default index.max_result_window
RETRYABLE_STATUS = frozenset({408, 429, 502, 503, 504})
_TERMS_BATCH = 1_000

ANALYSIS = OPENSEARCH_ANALYSIS  # see index.analysis: identical to the tantivy store's

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "document_id": {"type": "keyword"},
        "source_id": {"type": "keyword"},
        "acl": {"type": "keyword"},
        "body": {"type": "text", "analyzer": "gw_english"},
        "title": {"type": "text", "index": False, "copy_to": "body"},
        "text": {"type": "text", "index": False, "copy_to": "body"},
        "updated_us": {"type": "long"},
        "updated_at": {"type": "keyword", "index": False, "doc_values": False},
        "uri": {"type": "keyword", "index": False, "doc_values": False},
        "section_path": {"type": "keyword", "index": False, "doc_values": False},
        "page": {"type": "integer", "index": False, "doc_values": False},
        "ordinal": {"type": "integer", "index": False, "doc_values": False},
        "span": {
            "properties": {
                "start": {"type": "integer", "index": False, "doc_values": False},
                "end": {"type": "integer", "index": False, "doc_values": False},
            }
        },
    },
}

_ACL_SCRIPT = """
ctx._source.acl = params.acl;
if (params.updated_at != null) {
  ctx._source.updated_at = params.updated_at;
  ctx._source.updated_us = params.updated_us;
}
"""


# --------------------------------------------------------------------------- client and errors


def opensearch_client(
    url: str,
    *,
    timeout_s: float = 5.0,
    user: str | None = None,
    password: str | None = None,
    verify_certs: bool = True,
) -> OpenSearch:
    """A client that fails fast: one retry on a refused connection or 502-504, none on timeouts.

    Creating it opens no connection (the first request does).
    """
    return OpenSearch(
        hosts=[url],
        http_auth=(user, password) if user is not None and password is not None else None,
        verify_certs=verify_certs,
        timeout=timeout_s,
        max_retries=1,
        retry_on_timeout=False,
    )


def client_from_settings(backend: BackendSettings) -> OpenSearch:
    if not backend.opensearch_url:
        raise IndexLayerError("GW_BACKEND__OPENSEARCH_URL is not set: the OpenSearch store needs it")
    return opensearch_client(
        backend.opensearch_url,
        timeout_s=backend.timeout_s,
        user=backend.opensearch_user,
        password=backend.opensearch_password,
        verify_certs=backend.opensearch_verify_certs,
    )


def _reason(error: TransportError) -> str:
    info = error.info if isinstance(error.info, dict) else {}
    err = info.get("error")
    if isinstance(err, dict):
        root = (err.get("root_cause") or [err])[0]
        return f"{root.get('type', 'error')}: {root.get('reason', '')}"
    return str(error.error)


@contextlib.contextmanager
def translate_errors(index: str) -> Iterator[None]:
    """OpenSearch client errors as Groundwork's index-layer errors."""
    try:
        yield
    except OSConnectionError as exc:  # refused, reset, timed out, TLS
        raise StoreUnavailableError(BACKEND, index, f"{type(exc).__name__}: {exc.error}") from exc
    except NotFoundError as exc:
        if "index_not_found" in _reason(exc):
            raise GenerationNotFoundError(f"OpenSearch has no index or alias '{index}'") from exc
        raise IndexLayerError(f"OpenSearch index '{index}': {_reason(exc)}") from exc
    except TransportError as exc:
        status = exc.status_code
        if isinstance(status, int) and (status in RETRYABLE_STATUS or status in (401, 403)):
            raise StoreUnavailableError(BACKEND, index, f"HTTP {status} {_reason(exc)}") from exc
        raise IndexLayerError(f"OpenSearch index '{index}': HTTP {status} {_reason(exc)}") from exc


def create_keyword_index(
    client: OpenSearch,
    name: str,
    *,
    meta: Mapping[str, Any] | None = None,
    shards: int = 1,
    replicas: int = 0,
) -> None:
    """Create an index with the keyword mapping, BM25(0.9, 0.4) and ``meta`` under ``_meta``.

    One shard by default: BM25 statistics are per shard, and one shard ranks like one tantivy
    index (raise it for corpora beyond tens of millions of chunks).
    """
    body = {
        "settings": {
            "index": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "similarity": {"default": {"type": "BM25", "k1": 0.9, "b": 0.4}},
            },
            "analysis": ANALYSIS,
        },
        "mappings": {**MAPPINGS, "_meta": {**(meta or {}), "mapping_version": MAPPING_VERSION}},
    }
    with translate_errors(name):
        client.indices.create(index=name, body=body, params={"wait_for_active_shards": "1"})


# --------------------------------------------------------------------------- bulk failures


def _item_failure(info: Mapping[str, Any]) -> tuple[BulkItemFailure, bool]:
    """(the failure, whether retrying can help) from one failed bulk item."""
    status = info.get("status", "N/A")
    error = info.get("error")
    reason = f"{error.get('type')}: {error.get('reason')}" if isinstance(error, dict) else str(error)
    exc = info.get("exception")
    retryable = isinstance(exc, ConnectionTimeout) or (isinstance(status, int) and status in RETRYABLE_STATUS)
    return BulkItemFailure(str(info.get("_id")), status, reason), retryable


# --------------------------------------------------------------------------- the store


def chunk_source(chunk: Chunk) -> dict[str, Any]:
    """The ``_source`` of a chunk: every Chunk field (UTC) plus ``updated_us`` for filtering."""
    utc = chunk.model_copy(update={"updated_at": as_utc(chunk.updated_at)})
    return {**utc.model_dump(mode="json"), "updated_us": to_micros(utc.updated_at)}


def chunk_from_source(source: Mapping[str, Any]) -> Chunk:
    return Chunk.model_validate({k: v for k, v in source.items() if k != "updated_us"})


class OpenSearchKeywordStore:
    """:class:`index.types.KeywordStore` over one OpenSearch index or alias.

    Bulk retries: up to ``max_retries`` more attempts for retryable item failures, waiting
    ``initial_backoff_s``, then twice as long each time. ``writable=False`` refuses every write
    (the API's store on the live alias; see
    :meth:`index.generations_opensearch.OpenSearchGenerationCatalog.reader`).
    """

    backend = BACKEND

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        *,
        chunk_size: int = 500,
        max_retries: int = 3,
        initial_backoff_s: float = 0.5,
        writable: bool = True,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if max_retries < 0 or initial_backoff_s < 0:
            raise ValueError("max_retries and initial_backoff_s must be >= 0")
        self.client = client
        self.index = index
        self.writable = writable
        self._chunk_size = chunk_size
        self._max_retries = max_retries
        self._backoff = initial_backoff_s

    @classmethod
    def create(cls, client: OpenSearch, index: str, **kwargs: Any) -> OpenSearchKeywordStore:
        """Create the index ``index`` (with the keyword mapping) and return a store on it."""
        create_keyword_index(client, index)
        return cls(client, index, **kwargs)

    # ------------------------------------------------------------------ writes

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Index chunks by id (replacing earlier versions); visible to search when this returns."""
        self._writable("upsert into")
        if not chunks:
            return
        actions = [
            {"_op_type": "index", "_index": self.index, "_id": c.id, "_source": chunk_source(c)}
            for c in chunks
        ]
        failures = self._bulk(actions)
        self._refresh()
        if failures:
            raise BulkWriteError(BACKEND, self.index, failures)

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        self._writable("delete from")
        ids = list(dict.fromkeys(document_ids))
        for start in range(0, len(ids), _TERMS_BATCH):
            query = {"query": {"terms": {"document_id": ids[start : start + _TERMS_BATCH]}}}
            with translate_errors(self.index):
                self.client.delete_by_query(index=self.index, body=query, params={"refresh": "true"})

    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int:
        """Rewrite the ACL (and optionally updated_at) in place with ``update_by_query``.

        Only ``_source`` fields change; the text is re-indexed by the server from ``_source``.
        """
        self._writable("update ACLs in")
        params: dict[str, Any] = {"acl": list(normalize_acl(acl)), "updated_at": None, "updated_us": None}
        if updated_at is not None:
            utc = as_utc(updated_at)
            params |= {"updated_at": utc.isoformat().replace("+00:00", "Z"), "updated_us": to_micros(utc)}
        body = {
            "query": {"term": {"document_id": document_id}},
            "script": {"lang": "painless", "source": _ACL_SCRIPT, "params": params},
        }
        with translate_errors(self.index):
            resp = self.client.update_by_query(index=self.index, body=body, params={"refresh": "true"})
        failures = resp.get("failures") or []
        if failures:
            raise IndexLayerError(
                f"ACL update of document {document_id} in '{self.index}' failed: {failures[:3]}"
            )
        return int(resp.get("updated", 0))

    # ------------------------------------------------------------------ reads

    def search(self, query: str, flt: SearchFilter, limit: int) -> list[Hit]:
        """BM25 over title + text, restricted inside the engine by the ACL and narrowing filters."""
        flt = require_filter(flt)
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if limit > MAX_WINDOW:
            raise ValueError(f"limit must be <= {MAX_WINDOW} (OpenSearch's result window), got {limit}")
        if flt.source_ids == () or not query.strip():
            return []
        body = {
            "size": limit,
            "track_total_hits": False,
            "query": {
                "bool": {"must": [{"match": {"body": {"query": query}}}], "filter": search_filters(flt)}
            },
        }
        with translate_errors(self.index):
            resp = self.client.search(index=self.index, body=body)
        hits = [
            Hit(chunk=chunk_from_source(h["_source"]), score=float(h["_score"]), rank=rank)
            for rank, h in enumerate(resp["hits"]["hits"], start=1)
        ]
        return enforce_acl(hits, flt)

    def fetch(
        self, flt: SearchFilter, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]:
        """Stored chunks by document and/or id through the same filter clauses as search."""
        target = fetch_target(flt, document_id, chunk_ids)
        if target is None:
            return []
        clauses = search_filters(target.flt)
        if target.document_id is not None:
            clauses.append({"term": {"document_id": target.document_id}})
        if target.chunk_ids is not None:
            clauses.append({"ids": {"values": list(target.chunk_ids)}})
        body = {
            "size": min(MAX_FETCH, MAX_WINDOW),
            "track_total_hits": False,
            "query": {"bool": {"filter": clauses}},
        }
        with translate_errors(self.index):
            resp = self.client.search(index=self.index, body=body)
        return fetched([chunk_from_source(h["_source"]) for h in resp["hits"]["hits"]], target.flt)

    def count(self) -> int:
        with translate_errors(self.index):
            return int(self.client.count(index=self.index)["count"])

    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]:
        """Ids of the chunks of a document and/or a source (all when neither is given), by scroll."""
        terms = [{"term": {f: v}} for f, v in (("document_id", document_id), ("source_id", source_id)) if v]
        query = {"query": {"bool": {"filter": terms}} if terms else {"match_all": {}}, "_source": False}
        with translate_errors(self.index):
            return {hit["_id"] for hit in helpers.scan(self.client, query=query, index=self.index, size=1000)}

    # ------------------------------------------------------------------ lifecycle

    def drop_index(self) -> None:
        """Delete the index behind this store (tests, benchmarks; generations use their catalog)."""
        with translate_errors(self.index):
            self.client.indices.delete(index=self.index, params={"ignore_unavailable": "true"})

    def close(self) -> None:
        """The client is shared and owned by the caller, so nothing to release here."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _bulk(self, actions: list[dict[str, Any]]) -> list[BulkItemFailure]:
        """Send ``actions``, retrying retryable item failures; returns what still failed."""
        by_id = {a["_id"]: a for a in actions}
        pending = list(by_id.values())
        final: list[BulkItemFailure] = []
        for attempt in range(self._max_retries + 1):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
            retry: list[BulkItemFailure] = []
            for ok, item in helpers.streaming_bulk(
                self.client,
                pending,
                chunk_size=self._chunk_size,
                raise_on_error=False,
                raise_on_exception=False,
                yield_ok=False,
            ):
                if ok:
                    continue
                info = next(iter(item.values()))
                exc = info.get("exception")
                if isinstance(exc, OSConnectionError) and not isinstance(exc, ConnectionTimeout):
                    raise StoreUnavailableError(
                        BACKEND, self.index, f"bulk write failed: {exc.error}"
                    ) from exc
                failure, retryable = _item_failure(info)
                (retry if retryable and attempt < self._max_retries else final).append(failure)
            if not retry:
                break
            pending = [by_id[f.chunk_id] for f in retry]
        return final

    def _writable(self, action: str) -> None:
        if not self.writable:
            raise GenerationStateError(
                f"cannot {action} OpenSearch index '{self.index}': it was opened read-only (a reader "
                "of the live alias); writers fill a new generation (OpenSearchGenerationCatalog.store)"
            )

    def _refresh(self) -> None:
        with translate_errors(self.index):
            self.client.indices.refresh(index=self.index)


def search_filters(flt: SearchFilter) -> list[dict[str, Any]]:
    """The SearchFilter as bool ``filter`` clauses: ACL terms plus optional narrowing."""
    clauses: list[dict[str, Any]] = [{"terms": {"acl": list(flt.acl.terms)}}]
    if flt.source_ids is not None:
        clauses.append({"terms": {"source_id": list(flt.source_ids)}})
    bounds: dict[str, int] = {}
    if flt.updated_after is not None:
        bounds["gte"] = to_micros(flt.updated_after)
    if flt.updated_before is not None:
        bounds["lte"] = to_micros(flt.updated_before)
    if bounds:
        clauses.append({"range": {"updated_us": bounds}})
    return clauses
