"""Index generations on OpenSearch: one index per generation, the live one named by an alias.

::

    <index>__<generation>   one keyword index per generation (mapping: index.keywords_opensearch)
    <index>                 alias -> the live generation's index; readers search the alias

The shared logic (metadata as the catalog, metadata first then an atomic alias swap, gc order)
is :class:`index.generations_alias.AliasGenerationCatalog`; this module supplies OpenSearch's
calls. The metadata lives in each index's mapping ``_meta``; the alias move is one ``_aliases``
request (remove from the old index, add to the new), which OpenSearch applies atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opensearchpy import OpenSearch

from index.errors import GenerationNotFoundError
from index.generations_alias import AliasGenerationCatalog
from index.keywords_opensearch import (
    MAPPING_VERSION,
    OpenSearchKeywordStore,
    create_keyword_index,
    translate_errors,
)
from index.types import GENERATION_META_KEY, KeywordReader


class OpenSearchGenerationCatalog(AliasGenerationCatalog):
    """:class:`index.types.GenerationCatalog` over OpenSearch indices ``<index>__<id>`` + alias."""

    engine = "OpenSearch"

    def __init__(self, client: OpenSearch, index_name: str, *, shards: int = 1, replicas: int = 0) -> None:
        super().__init__(index_name)
        self.client = client
        self._shards = shards
        self._replicas = replicas

    def index_for(self, generation_id: str) -> str:
        """The concrete index of a generation (writers fill it before promotion)."""
        return self.physical_name(generation_id)

    def store(self, generation_id: str, **kwargs: Any) -> OpenSearchKeywordStore:
        """The writable keyword store of one generation (writers fill it before promotion)."""
        self._read(generation_id)
        return OpenSearchKeywordStore(self.client, self.index_for(generation_id), **kwargs)

    def reader(self, **kwargs: Any) -> KeywordReader:
        """A read-only store on the live alias: it follows promotions with no reopening."""
        return OpenSearchKeywordStore(self.client, self.alias, writable=False, **kwargs)

    # ---- the engine's primitives (see AliasGenerationCatalog)

    def _create_physical(self, name: str, dimension: int, entry: dict[str, Any]) -> None:
        create_keyword_index(
            self.client,
            name,
            meta={GENERATION_META_KEY: entry},
            shards=self._shards,
            replicas=self._replicas,
        )

    def _read_entry(self, name: str) -> Any:
        try:
            with translate_errors(name):
                mapping = self.client.indices.get_mapping(index=name)
        except GenerationNotFoundError:
            return None
        # an alias named like the index would answer under the index's real name: not found
        return _entry_of(mapping.get(name, {}))

    def _write_entry(self, name: str, entry: dict[str, Any]) -> None:
        # a mapping's _meta is replaced as a whole, so the mapping version is written again
        meta = {GENERATION_META_KEY: entry, "mapping_version": MAPPING_VERSION}
        with translate_errors(name):
            self.client.indices.put_mapping(index=name, body={"_meta": meta})

    def _entries(self) -> Mapping[str, Any]:
        with translate_errors(self.index_name):
            mappings = self.client.indices.get_mapping(
                index=f"{self._prefix}*", params={"allow_no_indices": "true"}
            )
        return {name: _entry_of(body) for name, body in mappings.items()}

    def _alias_target(self) -> str | None:
        with translate_errors(self.alias):
            if not self.client.indices.exists_alias(name=self.alias):
                return None
            targets = [str(name) for name in self.client.indices.get_alias(name=self.alias)]
        return targets[0] if len(targets) == 1 else None

    def _move_alias(self, name: str, previous_name: str | None) -> None:
        actions: list[dict[str, Any]] = [{"add": {"index": name, "alias": self.alias}}]
        if previous_name is not None:
            actions.insert(0, {"remove": {"index": previous_name, "alias": self.alias}})
        with translate_errors(self.alias):
            self.client.indices.update_aliases(body={"actions": actions})

    def _delete_physical(self, name: str) -> None:
        with translate_errors(self.index_name):
            self.client.indices.delete(index=name)


def _entry_of(mapping_body: Any) -> Any:
    meta = mapping_body.get("mappings", {}).get("_meta") if isinstance(mapping_body, dict) else None
    return meta.get(GENERATION_META_KEY) if isinstance(meta, dict) else None
