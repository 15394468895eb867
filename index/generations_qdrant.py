"""Index generations on a Qdrant server: one collection per generation, the live one an alias.

::

    <index>__<generation>   one collection per generation (payload indexes: index.vector_payload)
    <index>                 alias -> the live generation's collection; readers search the alias

The shared logic (metadata as the catalog, metadata first then an atomic alias swap, gc order)
is :class:`index.generations_alias.AliasGenerationCatalog`; this module supplies Qdrant's calls.
The metadata lives in the collection's own metadata (Qdrant >= 1.16, also supported by the
local ``:memory:`` mode); the alias move is one ``update_collection_aliases`` call (delete the
alias, create it on the new collection), which the server applies atomically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from index.errors import GenerationNotFoundError
from index.generations_alias import AliasGenerationCatalog
from index.types import GENERATION_META_KEY, VectorReader
from index.vectors_qdrant import QdrantVectorStore, create_generation_collection, translate_qdrant_errors


class QdrantGenerationCatalog(AliasGenerationCatalog):
    """Generations as Qdrant collections ``<index>__<id>``; the alias ``<index>`` is the live one.

    Collections are created with the payload indexes every vector store needs (see
    :func:`index.vectors_qdrant.create_generation_collection`).
    """

    engine = "Qdrant"

    def __init__(self, client: QdrantClient, index_name: str, *, backend: str = "qdrant") -> None:
        super().__init__(index_name)
        self.client = client
        self._backend = backend

    def collection_name(self, generation_id: str) -> str:
        return self.physical_name(generation_id)

    def store(self, generation_id: str, *, model_id: str, **kwargs: Any) -> QdrantVectorStore:
        """The writable vector store of one generation (writers fill it before promotion).

        Refuses a ``model_id`` other than the generation's recorded model on first use.
        """
        info, _ = self._read(generation_id)
        return QdrantVectorStore(
            self.client,
            self.collection_name(generation_id),
            model_id=model_id,
            dimension=info.dimension,
            index_name=self.index_name,
            **kwargs,
        )

    def reader(self, *, model_id: str, **kwargs: Any) -> VectorReader:
        """A read-only store on the live alias: it follows promotions with no reopening."""
        info = self.live()
        if info is None:
            raise GenerationNotFoundError(
                f"Qdrant index '{self.index_name}' has no live generation: build one and promote it"
            )
        return QdrantVectorStore(
            self.client,
            self.alias,
            model_id=model_id,
            dimension=info.dimension,
            index_name=self.index_name,
            writable=False,
            **kwargs,
        )

    # ---- the engine's primitives (see AliasGenerationCatalog)

    def _create_physical(self, name: str, dimension: int, entry: dict[str, Any]) -> None:
        with self._translate():
            create_generation_collection(self.client, name, dimension, metadata={GENERATION_META_KEY: entry})

    def _read_entry(self, name: str) -> Any:
        with self._translate():
            if not self.client.collection_exists(name):
                return None
            meta = self.client.get_collection(name).config.metadata
        return (meta or {}).get(GENERATION_META_KEY)

    def _write_entry(self, name: str, entry: dict[str, Any]) -> None:
        with self._translate():
            self.client.update_collection(name, metadata={GENERATION_META_KEY: entry})

    def _entries(self) -> Mapping[str, Any]:
        with self._translate():
            names = [c.name for c in self.client.get_collections().collections]
        return {name: self._read_entry(name) for name in names if name.startswith(self._prefix)}

    def _alias_target(self) -> str | None:
        with self._translate():
            aliases = self.client.get_aliases().aliases
        return next((a.collection_name for a in aliases if a.alias_name == self.alias), None)

    def _move_alias(self, name: str, previous_name: str | None) -> None:
        ops: list[qm.AliasOperations] = []
        if previous_name is not None:
            ops.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=self.alias)))
        ops.append(
            qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=name, alias_name=self.alias))
        )
        with self._translate():
            self.client.update_collection_aliases(change_aliases_operations=ops)

    def _delete_physical(self, name: str) -> None:
        with self._translate():
            self.client.delete_collection(name)

    def _translate(self) -> contextlib.AbstractContextManager[None]:
        return translate_qdrant_errors(self._backend, self.index_name)
