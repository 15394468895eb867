"""Index generations on OpenSearch: one index per generation, the live one named by an alias.

::

    <index>__<generation>   one keyword index per generation (mapping: index.keywords_opensearch)
    <index>                 alias -> the live generation's index; readers search the alias

Promotion and rollback are one ``_aliases`` request (remove from the old index, add to the new),
which OpenSearch applies atomically: a search sees the old generation or the new one, never
none. Each generation's :class:`~index.types.GenerationInfo` and the id of the generation it
replaced live in its mapping's ``_meta`` (``_meta.groundwork``), so the cluster itself is the
catalog: no second source of truth to drift. This mirrors
:class:`index.generations.QdrantGenerationCatalog`, and both take a caller-chosen
``generation_id`` so :class:`index.generations.CompositeGenerationCatalog` can drive them together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch

from index.errors import GenerationNotFoundError, LiveGenerationError, NoPreviousGenerationError
from index.generations import new_generation_id
from index.keywords_opensearch import (
    MAPPING_VERSION,
    META_KEY,
    OpenSearchKeywordStore,
    create_keyword_index,
    translate_errors,
)
from index.types import GenerationInfo


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OpenSearchGenerationCatalog:
    """:class:`index.types.GenerationCatalog` over OpenSearch indices ``<index>__<id>`` + alias."""

    def __init__(self, client: OpenSearch, index_name: str, *, shards: int = 1, replicas: int = 0) -> None:
        self.client = client
        self.index_name = index_name
        self.alias = index_name
        self._shards = shards
        self._replicas = replicas

    def index_for(self, generation_id: str) -> str:
        """The concrete index of a generation (writers fill it before promotion)."""
        return f"{self.index_name}__{generation_id}"

    def store(self, generation_id: str | None = None, **kwargs: Any) -> OpenSearchKeywordStore:
        """A keyword store on one generation, or on the live alias when ``generation_id`` is None."""
        if generation_id is not None:
            self._read(generation_id)
        return OpenSearchKeywordStore(
            self.client, self.alias if generation_id is None else self.index_for(generation_id), **kwargs
        )

    # ---- GenerationCatalog

    def create(
        self,
        embedding_model: str,
        dimension: int,
        *,
        generation_id: str | None = None,
        notes: dict[str, str] | None = None,
    ) -> GenerationInfo:
        existing = self.generations()
        created = _utcnow()
        if existing and existing[0].created_at >= created:
            created = existing[0].created_at + timedelta(microseconds=1)
        info = GenerationInfo(
            id=generation_id or new_generation_id(created),
            created_at=created,
            embedding_model=embedding_model,
            dimension=dimension,
            notes=notes or {},
        )
        create_keyword_index(
            self.client,
            self.index_for(info.id),
            meta=self._meta(info, previous=None),
            shards=self._shards,
            replicas=self._replicas,
        )
        return info

    def promote(self, generation_id: str) -> GenerationInfo:
        info, _ = self._read(generation_id)
        current = self._live_id()
        if current == generation_id:
            return info.model_copy(update={"live": True})
        return self._swap(info.model_copy(update={"promoted_at": _utcnow()}), previous=current)

    def rollback(self) -> GenerationInfo:
        current = self._live_id()
        previous = self._read(current)[1] if current else None
        if current is None or previous is None:
            raise NoPreviousGenerationError(
                f"OpenSearch index '{self.index_name}' has no previous generation to roll back to"
            )
        try:
            info, _ = self._read(previous)
        except GenerationNotFoundError:
            raise NoPreviousGenerationError(
                f"the previous generation '{previous}' of OpenSearch index '{self.index_name}' was dropped"
            ) from None
        return self._swap(info.model_copy(update={"promoted_at": _utcnow()}), previous=current)

    def live(self) -> GenerationInfo | None:
        current = self._live_id()
        return None if current is None else self._read(current)[0].model_copy(update={"live": True})

    def generations(self) -> list[GenerationInfo]:
        """All generations, newest first (read from the ``_meta`` of every ``<index>__*``)."""
        live = self._live_id()
        with translate_errors(self.index_name):
            mappings = self.client.indices.get_mapping(
                index=f"{self.index_name}__*", params={"allow_no_indices": "true"}
            )
        found = []
        for name, body in mappings.items():
            parsed = self._parse_meta(body.get("mappings", {}).get("_meta"))
            if parsed is not None and name == self.index_for(parsed[0].id):
                found.append(parsed[0].model_copy(update={"live": parsed[0].id == live}))
        return sorted(found, key=lambda g: (g.created_at, g.id), reverse=True)

    def record(
        self, generation_id: str, *, chunk_count: int | None = None, notes: dict[str, str] | None = None
    ) -> GenerationInfo:
        """Record build results (chunk count, evaluation scores as notes) in the generation's ``_meta``."""
        info, previous = self._read(generation_id)
        update: dict[str, Any] = {}
        if chunk_count is not None:
            update["chunk_count"] = chunk_count
        if notes:
            update["notes"] = {**info.notes, **notes}
        info = info.model_copy(update=update)
        self._write_meta(info, previous)
        return info.model_copy(update={"live": info.id == self._live_id()})

    def drop(self, generation_id: str) -> None:
        self._read(generation_id)
        if self._live_id() == generation_id:
            raise LiveGenerationError(self.index_name, generation_id, "drop")
        with translate_errors(self.index_name):
            self.client.indices.delete(index=self.index_for(generation_id))

    def gc(self, keep: int) -> list[str]:
        """Keep the live generation, then the one it replaced (the rollback target), then the newest."""
        if keep < 1:
            raise ValueError(f"gc keep must be >= 1 (the live generation is always kept), got {keep}")
        newest_first = [g.id for g in self.generations()]
        live = self._live_id()
        first = [g for g in (live, self._read(live)[1] if live else None) if g in newest_first]
        ordered = first + [g for g in newest_first if g not in first]
        for gid in ordered[keep:]:
            self.drop(gid)
        return ordered[keep:]

    # ---- internals

    def _meta(self, info: GenerationInfo, previous: str | None) -> dict[str, Any]:
        return {
            META_KEY: {
                "index": self.index_name,
                "info": info.model_dump(mode="json", exclude={"live"}),
                "previous": previous,
            }
        }

    def _parse_meta(self, meta: Any) -> tuple[GenerationInfo, str | None] | None:
        entry = meta.get(META_KEY) if isinstance(meta, dict) else None
        if not isinstance(entry, dict) or entry.get("index") != self.index_name:
            return None
        return GenerationInfo.model_validate(entry["info"]), entry.get("previous")

    def _read(self, generation_id: str) -> tuple[GenerationInfo, str | None]:
        """(info, previous live id) from the generation's ``_meta``."""
        name = self.index_for(generation_id)
        try:
            with translate_errors(name):
                mapping = self.client.indices.get_mapping(index=name)
        except GenerationNotFoundError:
            mapping = {}
        body = mapping.get(name, {})  # an alias named like the index would answer with another name
        parsed = self._parse_meta(body.get("mappings", {}).get("_meta"))
        if parsed is None or parsed[0].id != generation_id:
            raise GenerationNotFoundError(
                f"OpenSearch index '{self.index_name}' has no generation '{generation_id}' "
                f"(no index '{name}' with Groundwork metadata)"
            )
        return parsed

    def _write_meta(self, info: GenerationInfo, previous: str | None) -> None:
        name = self.index_for(info.id)
        with translate_errors(name):
            self.client.indices.put_mapping(
                index=name, body={"_meta": {**self._meta(info, previous), "mapping_version": MAPPING_VERSION}}
            )

    def _live_id(self) -> str | None:
        with translate_errors(self.alias):
            if not self.client.indices.exists_alias(name=self.alias):
                return None
            targets = [str(name) for name in self.client.indices.get_alias(name=self.alias)]
        prefix = f"{self.index_name}__"
        if len(targets) != 1 or not targets[0].startswith(prefix):
            return None
        return targets[0][len(prefix) :]

    def _swap(self, info: GenerationInfo, previous: str | None) -> GenerationInfo:
        # Metadata first: if we fail before the swap, the old alias still stands, and the stale
        # "previous" of a generation that is not live is overwritten by its next promotion.
        self._write_meta(info, previous)
        actions: list[dict[str, Any]] = [{"add": {"index": self.index_for(info.id), "alias": self.alias}}]
        if previous is not None:
            actions.insert(0, {"remove": {"index": self.index_for(previous), "alias": self.alias}})
        with translate_errors(self.alias):
            self.client.indices.update_aliases(body={"actions": actions})
        return info.model_copy(update={"live": True})
