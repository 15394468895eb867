"""Index generations on a server engine: one physical index per generation, an alias for the live one.

Qdrant (collections, :mod:`index.generations_qdrant`) and OpenSearch (indices,
:mod:`index.generations_opensearch`) keep generations the same way::

    <index>__<generation>   one collection / index per generation
    <index>                 alias -> the live generation's; readers search the alias

The server itself is the catalog: each generation's :class:`~index.types.GenerationInfo` and the
id of the generation it replaced live in that generation's own metadata (Qdrant collection
metadata, OpenSearch mapping ``_meta``) under :data:`index.types.GENERATION_META_KEY`, as
``{"index": <index>, "info": {...}, "previous": <id> | None}``. No second source of truth can drift.

Promotion and rollback write the metadata first, then move the alias in one request that the
engine applies atomically: a search sees the old generation or the new one, never none. If the
swap fails after the metadata write, the old alias still stands, and the stale ``previous`` of a
generation that is not live is overwritten by its next promotion.

:class:`AliasGenerationCatalog` holds that logic once; an engine subclass supplies the seven
primitives (create, read/write metadata, list, read/move the alias, delete). Both accept a
caller-chosen ``generation_id`` so :class:`index.generations.CompositeGenerationCatalog` drives
them together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from index.errors import GenerationNotFoundError, LiveGenerationError, NoPreviousGenerationError
from index.generations import keep_order, new_generation_id, next_created_at, utcnow, with_build_results
from index.types import GenerationInfo


class AliasGenerationCatalog(ABC):
    """:class:`index.types.GenerationCatalog` over ``<index>__<id>`` plus the alias ``<index>``."""

    engine = "server"  # the engine's name in messages

    def __init__(self, index_name: str) -> None:
        self.index_name = index_name
        self.alias = index_name
        self._prefix = f"{index_name}__"

    def physical_name(self, generation_id: str) -> str:
        """The collection / index that holds a generation (writers fill it before promotion)."""
        return f"{self._prefix}{generation_id}"

    # ---- what an engine provides

    @abstractmethod
    def _create_physical(self, name: str, dimension: int, entry: dict[str, Any]) -> None:
        """Create the collection / index ``name`` with ``entry`` as its metadata."""

    @abstractmethod
    def _read_entry(self, name: str) -> Any:
        """The metadata entry of ``name``, or None when there is no such collection / index."""

    @abstractmethod
    def _write_entry(self, name: str, entry: dict[str, Any]) -> None: ...

    @abstractmethod
    def _entries(self) -> Mapping[str, Any]:
        """``{name: metadata entry}`` of every collection / index whose name starts with the prefix."""

    @abstractmethod
    def _alias_target(self) -> str | None:
        """The one collection / index the alias names, or None."""

    @abstractmethod
    def _move_alias(self, name: str, previous_name: str | None) -> None:
        """Point the alias at ``name`` (away from ``previous_name``) in one atomic request."""

    @abstractmethod
    def _delete_physical(self, name: str) -> None: ...

    # ---- GenerationCatalog

    def create(
        self,
        embedding_model: str,
        dimension: int,
        *,
        generation_id: str | None = None,
        notes: dict[str, str] | None = None,
    ) -> GenerationInfo:
        created = next_created_at(self.generations())
        info = GenerationInfo(
            id=generation_id or new_generation_id(created),
            created_at=created,
            embedding_model=embedding_model,
            dimension=dimension,
            notes=notes or {},
        )
        self._create_physical(self.physical_name(info.id), dimension, self._entry(info, previous=None))
        return info

    def promote(self, generation_id: str) -> GenerationInfo:
        info, _ = self._read(generation_id)
        current = self._live_id()
        if current == generation_id:
            return info.model_copy(update={"live": True})
        return self._swap(info.model_copy(update={"promoted_at": utcnow()}), previous=current)

    def rollback(self) -> GenerationInfo:
        current = self._live_id()
        previous = self._read(current)[1] if current else None
        if current is None or previous is None:
            raise NoPreviousGenerationError(
                f"{self.engine} index '{self.index_name}' has no previous generation to roll back to"
            )
        try:
            info, _ = self._read(previous)
        except GenerationNotFoundError:
            raise NoPreviousGenerationError(
                f"the previous generation '{previous}' of {self.engine} index '{self.index_name}' was "
                "dropped; promote an existing generation instead"
            ) from None
        return self._swap(info.model_copy(update={"promoted_at": utcnow()}), previous=current)

    def live(self) -> GenerationInfo | None:
        current = self._live_id()
        return None if current is None else self._read(current)[0].model_copy(update={"live": True})

    def generations(self) -> list[GenerationInfo]:
        """All generations, newest first (collections / indices of another index are skipped)."""
        live = self._live_id()
        found = []
        for name, raw in self._entries().items():
            parsed = self._parse(name, raw)
            if parsed is not None:
                found.append(parsed[0].model_copy(update={"live": parsed[0].id == live}))
        return sorted(found, key=lambda g: (g.created_at, g.id), reverse=True)

    def record(
        self, generation_id: str, *, chunk_count: int | None = None, notes: dict[str, str] | None = None
    ) -> GenerationInfo:
        """Record build results (chunk count, evaluation scores as notes) in the metadata."""
        info, previous = self._read(generation_id)
        info = with_build_results(info, chunk_count, notes)
        self._write_entry(self.physical_name(generation_id), self._entry(info, previous))
        return info.model_copy(update={"live": self._live_id() == generation_id})

    def drop(self, generation_id: str) -> None:
        self._read(generation_id)
        if self._live_id() == generation_id:
            raise LiveGenerationError(self.index_name, generation_id, "drop")
        self._delete_physical(self.physical_name(generation_id))

    def gc(self, keep: int) -> list[str]:
        """Keep the live generation, then the one it replaced (the rollback target), then the newest."""
        if keep < 1:
            raise ValueError(f"gc keep must be >= 1 (the live generation is always kept), got {keep}")
        live = self._live_id()
        previous = self._read(live)[1] if live else None
        ordered = keep_order([g.id for g in self.generations()], live=live, previous=previous)
        for gid in ordered[keep:]:
            self.drop(gid)
        return ordered[keep:]

    # ---- internals

    def _entry(self, info: GenerationInfo, previous: str | None) -> dict[str, Any]:
        return {
            "index": self.index_name,
            "info": info.model_dump(mode="json", exclude={"live"}),
            "previous": previous,
        }

    def _parse(self, name: str, raw: Any) -> tuple[GenerationInfo, str | None] | None:
        """(info, previous) if ``raw`` is this index's entry for the generation ``name`` holds."""
        if not isinstance(raw, dict) or raw.get("index") != self.index_name:
            return None
        info = GenerationInfo.model_validate(raw["info"])
        if name != self.physical_name(info.id):
            return None  # e.g. an alias or a copy answering under another name
        previous = raw.get("previous")
        return info, previous if isinstance(previous, str) else None

    def _read(self, generation_id: str) -> tuple[GenerationInfo, str | None]:
        name = self.physical_name(generation_id)
        parsed = self._parse(name, self._read_entry(name))
        if parsed is None:
            raise GenerationNotFoundError(
                f"{self.engine} index '{self.index_name}' has no generation '{generation_id}' "
                f"(no collection or index '{name}' with Groundwork metadata); list them with generations()"
            )
        return parsed

    def _live_id(self) -> str | None:
        target = self._alias_target()
        if target is None or not target.startswith(self._prefix):
            return None
        return target[len(self._prefix) :]

    def _swap(self, info: GenerationInfo, previous: str | None) -> GenerationInfo:
        name = self.physical_name(info.id)
        self._write_entry(name, self._entry(info, previous))  # metadata first: see module docstring
        self._move_alias(name, None if previous is None else self.physical_name(previous))
        return info.model_copy(update={"live": True})
