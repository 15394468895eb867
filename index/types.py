"""The index layer's contracts: what a vector store and a keyword store must do.

Every search takes a :class:`SearchFilter`, which cannot exist without an :class:`AclFilter`,
which cannot exist without a principal's access terms. There is no unfiltered search path:
``count`` and ``chunk_ids`` are admin operations that return numbers and ids, never text.
Engines push the ACL filter into their own query; ``enforce_acl`` re-checks results afterwards
as defence in depth (never as the only guard).
"""

from __future__ import annotations

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
class VectorStore(Protocol):
    """Dense vectors with their chunk payloads, in one index generation."""

    backend: str
    model_id: str
    dimension: int

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None: ...
    def delete_documents(self, document_ids: Sequence[str]) -> None: ...
    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int:
        """Rewrite the ACL (and optionally updated_at) of a document's chunks in place; returns
        the number of chunks touched. Never re-embeds."""
        ...

    def search(self, vector: Sequence[float], flt: SearchFilter, limit: int) -> list[Hit]: ...
    def count(self) -> int: ...
    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]: ...
    def close(self) -> None: ...


@runtime_checkable
class KeywordStore(Protocol):
    """BM25 over chunk text with the same payloads, in one index generation."""

    backend: str

    def upsert(self, chunks: Sequence[Chunk]) -> None: ...
    def delete_documents(self, document_ids: Sequence[str]) -> None: ...
    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int: ...
    def search(self, query: str, flt: SearchFilter, limit: int) -> list[Hit]: ...
    def count(self) -> int: ...
    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]: ...
    def close(self) -> None: ...


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
