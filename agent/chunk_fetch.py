"""Read stored chunks through the ACL filter: by document (to open a passage) or by id.

Every store has ``fetch`` (:class:`index.types.VectorReader`, :class:`index.types.KeywordReader`):
the principal's ACL filter runs inside the engine exactly as in search, and a chunk the principal
may not read is indistinguishable from a missing one. This module only picks which store answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import StoreUnavailableError
from core.models import Chunk
from index.types import KeywordReader, SearchFilter, VectorReader


class StoreChunkReader:
    """:class:`agent.evidence.ChunkReader` over stores tried in order (the next one if one is down).

    Vector stores come first: their payload holds the whole chunk and Qdrant filters by id
    natively. If every store is down, the last :class:`StoreUnavailableError` propagates.
    """

    def __init__(self, stores: Sequence[VectorReader | KeywordReader]) -> None:
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
        """Chunks of a document and/or by id that ``flt`` allows, in document order."""
        error: StoreUnavailableError | None = None
        for store in self.stores:
            try:
                return store.fetch(flt, document_id=document_id, chunk_ids=chunk_ids)
            except StoreUnavailableError as exc:
                error = exc
        assert error is not None
        raise error
