"""The index layer's contracts: what a vector store and a keyword store must do.

Every search and fetch takes a :class:`SearchFilter`, which cannot exist without an
:class:`AclFilter`, which cannot exist without a principal's access terms. There is no unfiltered
read path: ``count`` and ``chunk_ids`` are admin operations that return numbers and ids, never text.
Engines push the ACL filter into their own query; ``enforce_acl`` (and ``fetched``) re-check
results afterwards as defence in depth (never as the only guard).

The serving path (API, agent, retriever) depends on :class:`VectorReader` / :class:`KeywordReader`,
which have no write methods; the pipeline writes through :class:`VectorStore` / :class:`KeywordStore`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.acl import PUBLIC, Principal
from core.models import Chunk


class AclFilter(BaseModel):
    """The ACL entries that grant a principal access: "acl contains any of these terms"."""

    model_config = ConfigDict(frozen=True)

    terms: tuple[str, ...] = Field(min_length=1)

    @classmethod
    def for_principal(cls, principal: Principal) -> AclFilter:
        if not isinstance(principal, Principal):
            raise TypeError("AclFilter.for_principal needs a Principal resolved by the server")
        return cls(terms=principal.access_terms())

    @field_validator("terms")
    @classmethod
    def _must_include_public(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if PUBLIC not in v:
            raise ValueError("an AclFilter is built from a Principal (it always includes 'public')")
        return v

    def allows(self, acl: Sequence[str]) -> bool:
        return any(entry in self.terms for entry in acl)


class SearchFilter(BaseModel):
    """What every search is restricted to: the ACL (required) plus optional narrowing."""

    model_config = ConfigDict(frozen=True)

    acl: AclFilter
    source_ids: tuple[str, ...] | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None

    @classmethod
    def for_principal(cls, principal: Principal, **narrowing: object) -> SearchFilter:
        return cls(acl=AclFilter.for_principal(principal), **narrowing)


class Hit(BaseModel):
    """One search result: the stored chunk and the engine's score and 1-based rank."""

    model_config = ConfigDict(frozen=True)

    chunk: Chunk
    score: float
    rank: int = Field(ge=1)


@runtime_checkable
class VectorReader(Protocol):
    """The read side of a vector store: what the API, the agent and the retriever depend on.

    No method writes, so a serving path typed against this protocol cannot write into an index
    (mypy refuses it); the read-only openings (:class:`index.vectors_edge.LiveVectorReader`,
    ``EdgeVectorStore(writable=False)``, :meth:`index.generations_qdrant.QdrantGenerationCatalog.reader`)
    also refuse writes at run time.
    """

    @property
    def backend(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def dimension(self) -> int: ...

    def search(self, vector: Sequence[float], flt: SearchFilter, limit: int) -> list[Hit]: ...
    def fetch(
        self, flt: SearchFilter, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]:
        """Stored chunks of ``document_id`` and/or with the given ids that ``flt`` allows, in
        document order (see :func:`fetch_target`). The ACL filter runs inside the engine, as in
        search: a chunk the principal may not read is indistinguishable from a missing one."""
        ...

    def count(self) -> int: ...
    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]: ...
    def close(self) -> None: ...


@runtime_checkable
class VectorStore(VectorReader, Protocol):
    """Dense vectors with their chunk payloads, in one index generation: reads and writes."""

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None: ...
    def delete_documents(self, document_ids: Sequence[str]) -> None: ...
    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int:
        """Rewrite the ACL (and optionally updated_at) of a document's chunks in place; returns
        the number of chunks touched. Never re-embeds."""
        ...


@runtime_checkable
class KeywordReader(Protocol):
    """The read side of a keyword store (see :class:`VectorReader`)."""

    @property
    def backend(self) -> str: ...

    def search(self, query: str, flt: SearchFilter, limit: int) -> list[Hit]: ...
    def fetch(
        self, flt: SearchFilter, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]: ...
    def count(self) -> int: ...
    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]: ...
    def close(self) -> None: ...


@runtime_checkable
class KeywordStore(KeywordReader, Protocol):
    """BM25 over chunk text with the same payloads, in one index generation: reads and writes."""

    def upsert(self, chunks: Sequence[Chunk]) -> None: ...
    def delete_documents(self, document_ids: Sequence[str]) -> None: ...
    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int: ...


def require_filter(flt: object) -> SearchFilter:
    """Refuse a search without a SearchFilter (a runtime guard for untyped callers)."""
    if not isinstance(flt, SearchFilter):
        raise TypeError(
            "search requires a SearchFilter built from a Principal; there is no unfiltered search"
        )
    return flt


def enforce_acl(hits: list[Hit], flt: SearchFilter) -> list[Hit]:
    """Defence in depth: drop any hit whose ACL does not grant access, re-rank the rest."""
    kept = [h for h in hits if h.chunk.acl and flt.acl.allows(h.chunk.acl)]
    if len(kept) == len(hits):
        return hits
    return [h.model_copy(update={"rank": i}) for i, h in enumerate(kept, start=1)]


GENERATION_META_KEY = "groundwork"  # where a server engine keeps a generation's GenerationInfo


class GenerationInfo(BaseModel):
    """Build metadata of one index generation (blue-green)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    created_at: datetime
    promoted_at: datetime | None = None
    embedding_model: str
    dimension: int = Field(gt=0)
    chunk_count: int = Field(0, ge=0)
    live: bool = False
    notes: dict[str, str] = Field(default_factory=dict)


@runtime_checkable
class GenerationCatalog(Protocol):
    """Creates, promotes, rolls back, lists and garbage-collects index generations.

    Promotion is atomic per engine (Qdrant/OpenSearch alias swap, or an atomically replaced
    pointer file for the embedded engines); readers follow the live generation without restart.
    """

    def create(self, embedding_model: str, dimension: int) -> GenerationInfo: ...
    def promote(self, generation_id: str) -> GenerationInfo: ...
    def rollback(self) -> GenerationInfo:
        """Make the previously live generation live again."""
        ...

    def live(self) -> GenerationInfo | None: ...
    def generations(self) -> list[GenerationInfo]:
        """All generations, newest first."""
        ...

    def drop(self, generation_id: str) -> None: ...
    def gc(self, keep: int) -> list[str]:
        """Drop all but the live one and the ``keep - 1`` newest others; returns dropped ids."""
        ...


# --------------------------------------------------------------------------- fetch

MAX_FETCH = 10_000  # chunks one fetch returns at most: no document has more, and no id list is longer


class FetchTarget(BaseModel):
    """A validated fetch: the filter plus a document id and/or chunk ids (at least one)."""

    model_config = ConfigDict(frozen=True)

    flt: SearchFilter
    document_id: str | None = None
    chunk_ids: tuple[str, ...] | None = None


def _is_id(value: object) -> bool:
    """A canonical (lowercase, hyphenated) UUID, as core.ids makes every document and chunk id.

    Canonical only: Qdrant would read ``"ABC..."`` as the point ``"abc..."`` while tantivy and
    OpenSearch match terms exactly, so a loose check would let engines disagree on one id.
    """
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def fetch_target(flt: object, document_id: str | None, chunk_ids: Sequence[str] | None) -> FetchTarget | None:
    """Check a fetch's arguments; None when it can match nothing (so no engine is asked).

    Ids that are not UUIDs name nothing and are dropped, never passed to an engine that would
    raise on them: an error would tell a caller more than "absent" does.
    """
    flt = require_filter(flt)
    if document_id is None and chunk_ids is None:
        raise ValueError("fetch needs a document_id or chunk_ids: there is no 'read everything'")
    if isinstance(chunk_ids, str):
        raise TypeError("chunk_ids is a sequence of ids, not one id")
    if document_id is not None and not _is_id(document_id):
        return None
    if flt.source_ids == ():
        return None  # narrowed to no source at all
    ids = None if chunk_ids is None else tuple(dict.fromkeys(c for c in chunk_ids if _is_id(c)))
    if ids is not None and not ids:
        return None
    if ids is not None and len(ids) > MAX_FETCH:
        raise ValueError(f"fetch takes at most {MAX_FETCH} chunk ids, got {len(ids)}: fetch in batches")
    return FetchTarget(flt=flt, document_id=document_id, chunk_ids=ids)


def fetched(chunks: Sequence[Chunk], flt: SearchFilter) -> list[Chunk]:
    """What a fetch returns: the ACL re-checked (defence in depth), in document order."""
    kept = [c for c in chunks if c.acl and flt.acl.allows(c.acl)]
    return sorted(kept, key=lambda c: (c.document_id, c.span.start, c.span.end, c.id))
