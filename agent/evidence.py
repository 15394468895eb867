"""The seams between the agent and the layers below it: small protocols the real parts satisfy.

- :class:`Searcher` is what :class:`retrieval.hybrid.HybridRetriever` already is (the agent
  passes the query vector it computed anyway, so a query is embedded once).
- :class:`ChunkReader` reads stored chunks of a document (or by id) *through the ACL filter*,
  for "open a passage around a chunk" and the citation endpoints.
- :class:`SourceCatalog` is the pipeline's manifest seen from the read side: per source, when
  it was last indexed, its documents' ACLs and dates, and its failures. The agent filters it
  by the principal before anyone sees a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from core.models import Chunk
from index.types import SearchFilter
from retrieval.results import SearchResponse


@runtime_checkable
class Searcher(Protocol):
    """Hybrid search restricted by a filter built from the asking principal."""

    def search(
        self,
        query: str,
        flt: SearchFilter,
        *,
        top_k: int | None = None,
        as_of: datetime | None = None,
        query_vector: npt.NDArray[np.float32] | None = None,
    ) -> SearchResponse: ...


@runtime_checkable
class ChunkReader(Protocol):
    """Stored chunks by document or by id, with the ACL filter pushed into the engine.

    A chunk the filter does not allow is indistinguishable from one that does not exist: both
    are simply absent from the result.
    """

    def fetch_chunks(
        self,
        flt: SearchFilter,
        *,
        document_id: str | None = None,
        chunk_ids: Sequence[str] | None = None,
    ) -> list[Chunk]: ...


class DocumentRecord(BaseModel):
    """What the manifest knows about one indexed document (no text)."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    acl: tuple[str, ...]
    updated_at: datetime


class FailureRecord(BaseModel):
    """A document the pipeline could not index, with its reason.

    ``acl`` is the ACL the document would have had; a failure whose ACL is unknown (empty) is
    shown to nobody, like a document with an empty ACL.
    """

    model_config = ConfigDict(frozen=True)

    locator: str
    reason: str
    acl: tuple[str, ...] = ()
    failed_at: datetime | None = None


class SourceRecord(BaseModel):
    """One configured source as the manifest sees it."""

    model_config = ConfigDict(frozen=True)

    source_id: str
    kind: str
    last_indexed_at: datetime | None = None
    documents: tuple[DocumentRecord, ...] = ()
    failures: tuple[FailureRecord, ...] = ()


@runtime_checkable
class SourceCatalog(Protocol):
    """Every configured source with its manifest records (unfiltered: the agent filters)."""

    def source_records(self) -> list[SourceRecord]: ...


class NoSourceCatalog:
    """A catalog that knows the configured sources but has no manifest (nothing ingested yet)."""

    def __init__(self, sources: Sequence[tuple[str, str]] = ()) -> None:
        self._sources = tuple(sources)

    def source_records(self) -> list[SourceRecord]:
        return [SourceRecord(source_id=sid, kind=kind) for sid, kind in self._sources]
