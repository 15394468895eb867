"""Index generations on a Qdrant server: one collection per generation, the live one an alias.

::

    <index>__<generation>   one collection per generation (payload indexes: index.vector_payload)
    <index>                 alias -> the live generation's collection; readers search the alias

Promotion and rollback are one ``update_collection_aliases`` call (delete the alias, create it on
the new collection), which the server applies atomically: a search sees the old generation or
the new one, never none. Each generation's :class:`~index.types.GenerationInfo` and the id of the
generation it replaced live in the collection's own metadata (Qdrant >= 1.16, also supported by
the local ``:memory:`` mode), so the server itself is the catalog. Mirrors
:class:`index.generations_opensearch.OpenSearchGenerationCatalog`; both take a caller-chosen
``generation_id`` so :class:`index.generations.CompositeGenerationCatalog` drives them together.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from index.errors import GenerationNotFoundError, LiveGenerationError, NoPreviousGenerationError
from index.generations import LivePointer, keep_order, new_generation_id, utcnow
from index.types import GenerationInfo
from index.vectors_qdrant import (
    GENERATION_META_KEY,
    QdrantVectorStore,
    create_generation_collection,
    translate_qdrant_errors,
)


class QdrantGenerationCatalog:
    """Generations as Qdrant collections ``<index>__<id>``; the alias ``<index>`` is the live one.

    Each generation's :class:`GenerationInfo` and the id of the generation it replaced are kept
    in the collection's metadata (Qdrant >= 1.16). Collections are created with the payload
    indexes every vector store needs (see :func:`index.vectors_qdrant.create_generation_collection`).
    """

    def __init__(self, client: QdrantClient, index_name: str, *, backend: str = "qdrant") -> None:
        self.client = client
        self.index_name = index_name
        self.alias = index_name
        self._backend = backend

    def collection_name(self, generation_id: str) -> str:
        return f"{self.index_name}__{generation_id}"

    def store(self, generation_id: str | None = None, *, model_id: str, **kwargs: Any) -> QdrantVectorStore:
        """A vector store on one generation (writers fill it before promotion), or on the live
        alias when ``generation_id`` is None (readers: they follow promotions with no reopen).

        The store refuses a ``model_id`` other than the generation's recorded model on first use.
        """
        if generation_id is None:
            info = self.live()
            if info is None:
                raise GenerationNotFoundError(
                    f"Qdrant index '{self.index_name}' has no live generation: build one and promote it"
                )
            collection = self.alias
        else:
            info, _ = self._read(generation_id)
            collection = self.collection_name(generation_id)
        return QdrantVectorStore(
            self.client,
            collection,
            model_id=model_id,
            dimension=info.dimension,
            index_name=self.index_name,
            **kwargs,
        )

    def record(
        self, generation_id: str, *, chunk_count: int | None = None, notes: dict[str, str] | None = None
    ) -> GenerationInfo:
        """Record build results (chunk count, evaluation scores as notes) in the metadata."""
        info, previous = self._read(generation_id)
        update: dict[str, Any] = {}
        if chunk_count is not None:
            update["chunk_count"] = chunk_count
        if notes:
            update["notes"] = {**info.notes, **notes}
        info = info.model_copy(update=update)
        with self._translate():
            self.client.update_collection(
                self.collection_name(generation_id), metadata=self._metadata(info, previous)
            )
        return info.model_copy(update={"live": self._live_id() == generation_id})

    def create(
        self,
        embedding_model: str,
        dimension: int,
        *,
        generation_id: str | None = None,
        notes: dict[str, str] | None = None,
    ) -> GenerationInfo:
        existing = self.generations()
        created = utcnow()
        if existing and existing[0].created_at >= created:
            created = existing[0].created_at + timedelta(microseconds=1)
        gid = generation_id or new_generation_id(created)
        info = GenerationInfo(
            id=gid,
            created_at=created,
            embedding_model=embedding_model,
            dimension=dimension,
            notes=notes or {},
        )
        with self._translate():
            create_generation_collection(
                self.client, self.collection_name(gid), dimension, metadata=self._metadata(info, None)
            )
        return info

    def promote(self, generation_id: str) -> GenerationInfo:
        info, _ = self._read(generation_id)
        current = self._live_id()
        if current == generation_id:
            return info.model_copy(update={"live": True})
        info = info.model_copy(update={"promoted_at": utcnow()})
        self._swap_alias(info, previous=current)
        return info.model_copy(update={"live": True})

    def rollback(self) -> GenerationInfo:
        current = self._live_id()
        previous = self._read(current)[1] if current else None
        if current is None or previous is None:
            raise NoPreviousGenerationError(
                f"Qdrant index '{self.index_name}' has no previous generation to roll back to"
            )
        try:
            info, _ = self._read(previous)
        except GenerationNotFoundError:
            raise NoPreviousGenerationError(
                f"the previous generation '{previous}' of Qdrant index '{self.index_name}' was dropped"
            ) from None
        info = info.model_copy(update={"promoted_at": utcnow()})
        self._swap_alias(info, previous=current)
        return info.model_copy(update={"live": True})

    def live(self) -> GenerationInfo | None:
        current = self._live_id()
        return None if current is None else self._read(current)[0].model_copy(update={"live": True})

    def generations(self) -> list[GenerationInfo]:
        live = self._live_id()
        prefix = f"{self.index_name}__"
        found: list[GenerationInfo] = []
        with self._translate():
            names = [c.name for c in self.client.get_collections().collections if c.name.startswith(prefix)]
        for name in names:
            try:
                info, _ = self._read(name[len(prefix) :])
            except GenerationNotFoundError:
                continue  # a collection of another index whose name happens to share the prefix
            found.append(info.model_copy(update={"live": info.id == live}))
        return sorted(found, key=lambda g: (g.created_at, g.id), reverse=True)

    def drop(self, generation_id: str) -> None:
        self._read(generation_id)
        if self._live_id() == generation_id:
            raise LiveGenerationError(self.index_name, generation_id, "drop")
        with self._translate():
            self.client.delete_collection(self.collection_name(generation_id))

    def gc(self, keep: int) -> list[str]:
        if keep < 1:
            raise ValueError(f"gc keep must be >= 1 (the live generation is always kept), got {keep}")
        live = self._live_id()
        previous = self._read(live)[1] if live else None
        pointer = LivePointer(generation=live, previous=previous, promoted_at=utcnow()) if live else None
        ordered = keep_order([g.id for g in self.generations()], pointer)
        for gid in ordered[keep:]:
            self.drop(gid)
        return ordered[keep:]

    # ---- internals

    def _metadata(self, info: GenerationInfo, previous: str | None) -> dict[str, Any]:
        return {
            GENERATION_META_KEY: {
                "index": self.index_name,
                "info": info.model_dump(mode="json", exclude={"live"}),
                "previous": previous,
            }
        }

    def _read(self, generation_id: str) -> tuple[GenerationInfo, str | None]:
        """(info, previous live id) from the generation's collection metadata."""
        name = self.collection_name(generation_id)
        with self._translate():
            exists = self.client.collection_exists(name)
            meta = self.client.get_collection(name).config.metadata if exists else None
        entry = (meta or {}).get(GENERATION_META_KEY)
        if not isinstance(entry, dict) or entry.get("index") != self.index_name:
            raise GenerationNotFoundError(
                f"Qdrant index '{self.index_name}' has no generation '{generation_id}' "
                f"(no collection '{name}' with Groundwork metadata)"
            )
        return GenerationInfo.model_validate(entry["info"]), entry.get("previous")

    def _live_id(self) -> str | None:
        with self._translate():
            aliases = self.client.get_aliases().aliases
        for a in aliases:
            if a.alias_name == self.alias:
                prefix = f"{self.index_name}__"
                return a.collection_name[len(prefix) :] if a.collection_name.startswith(prefix) else None
        return None

    def _swap_alias(self, info: GenerationInfo, previous: str | None) -> None:
        # Metadata first: if we crash before the swap, the old alias still stands and the
        # stale "previous" on a non-live collection is overwritten by its next promotion.
        with self._translate():
            self.client.update_collection(
                self.collection_name(info.id), metadata=self._metadata(info, previous)
            )
            ops: list[qm.AliasOperations] = []
            if previous is not None:
                ops.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=self.alias)))
            ops.append(
                qm.CreateAliasOperation(
                    create_alias=qm.CreateAlias(
                        collection_name=self.collection_name(info.id), alias_name=self.alias
                    )
                )
            )
            self.client.update_collection_aliases(change_aliases_operations=ops)

    def _translate(self) -> contextlib.AbstractContextManager[None]:
        return translate_qdrant_errors(self._backend, self.index_name)
