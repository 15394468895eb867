"""Index generations (blue-green): build beside the live index, promote atomically, roll back.

The catalogs implementing :class:`index.types.GenerationCatalog`:

- :class:`EmbeddedGenerationCatalog` for the embedded engines (Qdrant Edge, tantivy)::

      <data_dir>/indexes/<index>/
          LIVE                        {"generation": id, "previous": id | null, "promoted_at": iso}
          catalog.lock                serializes catalog changes between processes
          generations/<id>/meta.json  GenerationInfo (without "live", which LIVE decides)
          generations/<id>/vectors/   the Qdrant Edge shard   (see index.vectors_edge)
          generations/<id>/keywords/  the tantivy index       (see index.keywords_tantivy)

  ``LIVE`` is replaced atomically (temp file, fsync, ``os.replace``, fsync of the folder), so a
  reader sees the old pointer or the new one, never a torn one. The catalog knows nothing about
  the engines: it hands out generation folders, and refuses to hand out the live one for
  writing (:class:`~index.errors.LiveGenerationError`), which is how "the pipeline never writes
  into the folder the API has open" is kept.

- :class:`index.generations_qdrant.QdrantGenerationCatalog` (collections + alias swap) and
  :class:`index.generations_opensearch.OpenSearchGenerationCatalog` (indices + alias swap) for
  the servers; they live beside their engines so embedded processes never import the clients.

- :class:`CompositeGenerationCatalog` drives several catalogs with one generation id (server
  mode: Qdrant + OpenSearch). Promotion is atomic *per engine* only; see its docstring.

:class:`LiveReader` lets a long-running process (the API) follow promotions without restart: it
stats ``LIVE`` before each use (cheap) and, when the pointer changed, opens the new generation
and closes the old one once no search is using it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from index.errors import (
    GenerationNotFoundError,
    LiveGenerationError,
    NoPreviousGenerationError,
    StoreLockedError,
)
from index.types import GenerationCatalog, GenerationInfo

LIVE_FILE = "LIVE"
META_FILE = "meta.json"
VECTORS_DIR = "vectors"
KEYWORDS_DIR = "keywords"


def new_generation_id(now: datetime) -> str:
    """Sortable, collision-safe, lowercase id (valid as a folder, a collection and an index name)."""
    return f"{now:%Y%m%d-%H%M%S-%f}-{secrets.token_hex(2)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class LivePointer(BaseModel):
    """Content of the ``LIVE`` file."""

    model_config = ConfigDict(frozen=True)

    generation: str
    previous: str | None = None
    promoted_at: datetime


class IdentifiedCatalog(GenerationCatalog, Protocol):
    """A catalog that also accepts a caller-chosen generation id (the composite needs this)."""

    def create(
        self, embedding_model: str, dimension: int, *, generation_id: str | None = None
    ) -> GenerationInfo: ...


# --------------------------------------------------------------------------- file locks


class FolderLock:
    """An ``fcntl.flock`` on a lock file: shared for readers, exclusive for a writer.

    ``flock`` locks belong to an open file description, so two stores opened on the same folder
    conflict even inside one process, and a crashed process releases its lock automatically.
    """

    def __init__(self, path: Path, *, exclusive: bool) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] | None = open(path, "a+b")  # noqa: SIM115 - held until release()
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(self._fh.fileno(), mode | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            self._fh = None
            holder = "a reader or writer" if exclusive else "a writer"
            raise StoreLockedError(str(path.parent), f"{holder} holds {path.name}") from None

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    @staticmethod
    def is_free(path: Path) -> bool:
        """True iff nobody holds ``path`` (checked by briefly taking it exclusively)."""
        if not path.exists():
            return True
        try:
            FolderLock(path, exclusive=True).release()
        except StoreLockedError:
            return False
        return True


@contextlib.contextmanager
def _blocking_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` so readers see the old file or the new one, never a partial one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------- embedded catalog


class EmbeddedGenerationCatalog:
    """Generations as folders, the live one named by an atomically replaced pointer file."""

    def __init__(self, data_dir: Path, index_name: str) -> None:
        self.index_name = index_name
        self.root = Path(data_dir) / "indexes" / index_name
        self.generations_dir = self.root / "generations"
        self.live_file = self.root / LIVE_FILE
        self._lock_file = self.root / "catalog.lock"

    # ---- paths engines use

    def generation_path(self, generation_id: str) -> Path:
        """The folder of an existing generation (engines use ``vectors/`` and ``keywords/`` in it)."""
        path = self.generations_dir / generation_id
        if not (path / META_FILE).is_file():
            raise GenerationNotFoundError(
                f"index '{self.index_name}' has no generation '{generation_id}' (looked in {path})"
            )
        return path

    def writable_path(self, generation_id: str) -> Path:
        """The folder of a generation a writer may fill; refuses the live one."""
        path = self.generation_path(generation_id)
        pointer = self.pointer()
        if pointer is not None and pointer.generation == generation_id:
            raise LiveGenerationError(self.index_name, generation_id, "open for writing")
        return path

    def pointer(self) -> LivePointer | None:
        try:
            raw = self.live_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return LivePointer.model_validate_json(raw)

    def pointer_stamp(self) -> tuple[int, int, int] | None:
        """A cheap fingerprint of ``LIVE`` (one stat): changes whenever the pointer is replaced."""
        try:
            st = os.stat(self.live_file)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # ---- GenerationCatalog

    def create(
        self,
        embedding_model: str,
        dimension: int,
        *,
        generation_id: str | None = None,
        clone_from: str | None = None,
        notes: dict[str, str] | None = None,
    ) -> GenerationInfo:
        """A new, empty (or cloned) generation folder with its ``meta.json``.

        ``clone_from`` copies another generation's engine folders first: the way an incremental
        update starts in embedded mode (copy live, apply changes, promote). The source must not
        have a writer open; readers are fine (they never write).
        """
        with _blocking_lock(self._lock_file):
            created = next_created_at(self.generations())
            gid = generation_id or new_generation_id(created)
            path = self.generations_dir / gid
            if path.exists():
                raise FileExistsError(f"generation '{gid}' of index '{self.index_name}' already exists")
            info = GenerationInfo(
                id=gid,
                created_at=created,
                embedding_model=embedding_model,
                dimension=dimension,
                notes=notes or {},
            )
            staging = self.generations_dir / f".{gid}.staging"
            if clone_from is not None:
                source = self.generation_path(clone_from)
                # shared locks: readers of the source may stay, a writer still filling it may not
                held = [FolderLock(lock, exclusive=False) for lock in source.glob("*.lock")]
                try:
                    shutil.copytree(source, staging, ignore=_clone_ignore(source))
                finally:
                    for lock in held:
                        lock.release()
            else:
                staging.mkdir(parents=True)
            atomic_write_json(staging / META_FILE, info.model_dump(mode="json", exclude={"live"}))
            os.replace(staging, path)
            return info

    def promote(self, generation_id: str) -> GenerationInfo:
        """Make a generation live; refused while a writer still has it open (readers would fail)."""
        with _blocking_lock(self._lock_file):
            info = self._read_info(generation_id)
            self._refuse_if_writing(generation_id)
            current = self.pointer()
            if current is not None and current.generation == generation_id:
                return self._with_live(info, current)
            now = utcnow()
            info = info.model_copy(update={"promoted_at": now})
            self._write_info(info)
            pointer = LivePointer(
                generation=generation_id,
                previous=current.generation if current else None,
                promoted_at=now,
            )
            atomic_write_json(self.live_file, pointer.model_dump(mode="json"))
            return self._with_live(info, pointer)

    def rollback(self) -> GenerationInfo:
        with _blocking_lock(self._lock_file):
            current = self.pointer()
            if current is None or current.previous is None:
                raise NoPreviousGenerationError(
                    f"index '{self.index_name}' has no previous generation to roll back to"
                )
            try:
                info = self._read_info(current.previous)
            except GenerationNotFoundError:
                raise NoPreviousGenerationError(
                    f"the previous generation '{current.previous}' of index '{self.index_name}' "
                    "was garbage-collected; promote an existing generation instead"
                ) from None
            self._refuse_if_writing(info.id)
            now = utcnow()
            info = info.model_copy(update={"promoted_at": now})
            self._write_info(info)
            pointer = LivePointer(generation=info.id, previous=current.generation, promoted_at=now)
            atomic_write_json(self.live_file, pointer.model_dump(mode="json"))
            return self._with_live(info, pointer)

    def live(self) -> GenerationInfo | None:
        pointer = self.pointer()
        if pointer is None:
            return None
        return self._with_live(self._read_info(pointer.generation), pointer)

    def info(self, generation_id: str) -> GenerationInfo:
        pointer = self.pointer()
        return self._with_live(self._read_info(generation_id), pointer)

    def generations(self) -> list[GenerationInfo]:
        pointer = self.pointer()
        found: list[GenerationInfo] = []
        if self.generations_dir.is_dir():
            for meta in self.generations_dir.glob(f"*/{META_FILE}"):
                if meta.parent.name.startswith("."):
                    continue  # staging (being created) or dropping
                found.append(
                    self._with_live(GenerationInfo.model_validate_json(meta.read_text("utf-8")), pointer)
                )
        return sorted(found, key=lambda g: (g.created_at, g.id), reverse=True)

    def record(
        self, generation_id: str, *, chunk_count: int | None = None, notes: dict[str, str] | None = None
    ) -> GenerationInfo:
        """Record build results (chunk count, evaluation scores as notes) in ``meta.json``."""
        with _blocking_lock(self._lock_file):
            info = with_build_results(self._read_info(generation_id), chunk_count, notes)
            self._write_info(info)
            return self._with_live(info, self.pointer())

    def drop(self, generation_id: str) -> None:
        with _blocking_lock(self._lock_file):
            self._drop(generation_id, self.pointer())

    def gc(self, keep: int) -> list[str]:
        """Keep the live one, then the previous one (the rollback target), then the newest.

        Generations whose engine folders are locked (a writer building, a reader still on a
        demoted generation) are skipped, not dropped.
        """
        if keep < 1:
            raise ValueError(f"gc keep must be >= 1 (the live generation is always kept), got {keep}")
        with _blocking_lock(self._lock_file):
            pointer = self.pointer()
            ordered = keep_order(
                [g.id for g in self.generations()],
                live=pointer.generation if pointer else None,
                previous=pointer.previous if pointer else None,
            )
            dropped: list[str] = []
            for gid in ordered[keep:]:
                path = self.generations_dir / gid
                if all(FolderLock.is_free(lock) for lock in path.glob("*.lock")):
                    self._drop(gid, pointer)
                    dropped.append(gid)
            return dropped

    # ---- internals

    def _drop(self, generation_id: str, pointer: LivePointer | None) -> None:
        path = self.generation_path(generation_id)
        if pointer is not None and pointer.generation == generation_id:
            raise LiveGenerationError(self.index_name, generation_id, "drop")
        for lock in path.glob("*.lock"):
            if not FolderLock.is_free(lock):
                raise StoreLockedError(str(path), f"{lock.name} is held; close the store first")
        trash = self.generations_dir / f".{generation_id}.{secrets.token_hex(3)}.dropping"
        os.replace(path, trash)  # disappears from listings at once, even if rmtree is slow
        shutil.rmtree(trash, ignore_errors=True)

    def _refuse_if_writing(self, generation_id: str) -> None:
        # a shared lock succeeds beside readers and fails only against a writer's exclusive one
        for lock in self.generation_path(generation_id).glob("*.lock"):
            FolderLock(lock, exclusive=False).release()

    def _read_info(self, generation_id: str) -> GenerationInfo:
        meta = self.generation_path(generation_id) / META_FILE
        return GenerationInfo.model_validate_json(meta.read_text("utf-8"))

    def _write_info(self, info: GenerationInfo) -> None:
        atomic_write_json(
            self.generation_path(info.id) / META_FILE, info.model_dump(mode="json", exclude={"live"})
        )

    @staticmethod
    def _with_live(info: GenerationInfo, pointer: LivePointer | None) -> GenerationInfo:
        live = pointer is not None and pointer.generation == info.id
        return info if info.live == live else info.model_copy(update={"live": live})


def _clone_ignore(root: Path) -> Callable[[str, list[str]], set[str]]:
    """Skip our lock files and the catalog's own top-level ``meta.json`` (the clone gets its own);
    engine files of the same name further down (tantivy's ``keywords/meta.json``) are copied."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n.endswith(".lock") and Path(folder) == root}
        if Path(folder) == root and META_FILE in names:
            skipped.add(META_FILE)
        return skipped

    return ignore


def keep_order(newest_first: Sequence[str], *, live: str | None, previous: str | None) -> list[str]:
    """Generation ids in the order gc keeps them: live, previous (the rollback target), then newest."""
    first = [g for g in (live, previous) if g is not None and g in newest_first]
    return first + [g for g in newest_first if g not in first]


def with_build_results(
    info: GenerationInfo, chunk_count: int | None, notes: dict[str, str] | None
) -> GenerationInfo:
    """``info`` with a build's chunk count and notes (merged into the existing notes) recorded."""
    update: dict[str, Any] = {}
    if chunk_count is not None:
        update["chunk_count"] = chunk_count
    if notes:
        update["notes"] = {**info.notes, **notes}
    return info.model_copy(update=update)


def next_created_at(newest_first: Sequence[GenerationInfo]) -> datetime:
    """Now, or just after the newest generation: creation times order generations strictly."""
    now = utcnow()
    if newest_first and newest_first[0].created_at >= now:
        now = newest_first[0].created_at + timedelta(microseconds=1)
    return now


# --------------------------------------------------------------------------- live reader

S = TypeVar("S")


@dataclass
class _Slot(Generic[S]):
    generation: str
    store: S
    leases: int = 0
    retired: bool = False


class LiveReader(Generic[S]):
    """Follows the live generation of an embedded catalog for a long-running process.

    ``open_store(info, generation_folder)`` opens an engine read-only on a generation;
    ``close_store`` closes it. Each :meth:`lease` costs one ``stat`` of ``LIVE``; when the
    pointer changed, the new generation is opened and the old one is closed as soon as the
    searches already running on it finish (so a promotion never fails an in-flight search).
    """

    def __init__(
        self,
        catalog: EmbeddedGenerationCatalog,
        open_store: Callable[[GenerationInfo, Path], S],
        close_store: Callable[[S], None],
    ) -> None:
        self.catalog = catalog
        self._open = open_store
        self._close = close_store
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._slot: _Slot[S] | None = None
        self.reopened = 0  # how many times a promotion made this reader switch

    @property
    def generation_id(self) -> str | None:
        return self._slot.generation if self._slot else None

    @contextlib.contextmanager
    def lease(self) -> Iterator[S]:
        """The live generation's store, valid for the ``with`` block."""
        slot = self._acquire()
        try:
            yield slot.store
        finally:
            self._release(slot)

    def close(self) -> None:
        with self._lock:
            slot, self._slot, self._stamp = self._slot, None, None
            if slot is not None:
                slot.retired = True
                if slot.leases == 0:
                    self._close(slot.store)

    def _acquire(self) -> _Slot[S]:
        stamp = self.catalog.pointer_stamp()
        with self._lock:
            if self._slot is None or stamp != self._stamp:
                self._switch(stamp)
            assert self._slot is not None
            self._slot.leases += 1
            return self._slot

    def _switch(self, stamp: tuple[int, int, int] | None) -> None:
        pointer = self.catalog.pointer()
        if pointer is None:
            raise GenerationNotFoundError(
                f"index '{self.catalog.index_name}' has no live generation yet: "
                "build one and promote it (the pipeline's index assets do this)"
            )
        if self._slot is not None and self._slot.generation == pointer.generation:
            self._stamp = stamp
            return
        info = self.catalog.info(pointer.generation)
        store = self._open(info, self.catalog.generation_path(info.id))
        old, self._slot, self._stamp = self._slot, _Slot(info.id, store), stamp
        if old is not None:
            self.reopened += 1
            old.retired = True
            if old.leases == 0:
                self._close(old.store)

    def _release(self, slot: _Slot[S]) -> None:
        with self._lock:
            slot.leases -= 1
            close = slot.retired and slot.leases == 0
        if close:
            self._close(slot.store)


# --------------------------------------------------------------------------- composite


class CompositeGenerationCatalog:
    """Several engines' catalogs moved together under one generation id (server mode).

    ``create`` makes the generation in every engine with the same id. ``promote`` and
    ``rollback`` go engine by engine, in the order given (Qdrant first, then OpenSearch).
    There is no cross-engine transaction: between the two alias swaps (milliseconds) a query
    can combine new dense results with old keyword results. Both generations hold the same
    chunks with ACL payloads, so this window can mix rankings but never leak a document. If a
    later engine fails, the earlier ones are swapped back and the error is re-raised.
    """

    def __init__(self, catalogs: Sequence[IdentifiedCatalog]) -> None:
        if not catalogs:
            raise ValueError("a composite catalog needs at least one catalog")
        self.catalogs = tuple(catalogs)

    def create(
        self, embedding_model: str, dimension: int, *, generation_id: str | None = None
    ) -> GenerationInfo:
        gid = generation_id or new_generation_id(utcnow())
        made: list[IdentifiedCatalog] = []
        try:
            infos = []
            for catalog in self.catalogs:
                infos.append(catalog.create(embedding_model, dimension, generation_id=gid))
                made.append(catalog)
        except Exception:
            for catalog in made:
                with contextlib.suppress(Exception):
                    catalog.drop(gid)
            raise
        return infos[0]

    def promote(self, generation_id: str) -> GenerationInfo:
        for catalog in self.catalogs:
            catalog.live()  # fail fast (unreachable engine) before the first swap
            if not any(g.id == generation_id for g in catalog.generations()):
                raise GenerationNotFoundError(
                    f"generation '{generation_id}' is missing in {type(catalog).__name__}; "
                    "create generations through the composite catalog"
                )
        return self._each(lambda c: c.promote(generation_id))

    def rollback(self) -> GenerationInfo:
        return self._each(lambda c: c.rollback())

    def live(self) -> GenerationInfo | None:
        lives = [c.live() for c in self.catalogs]
        ids = {g.id if g else None for g in lives}
        if len(ids) > 1:
            return None  # engines disagree (a promotion in progress or a failed one): nothing is live
        return lives[0]

    def generations(self) -> list[GenerationInfo]:
        per_engine = [{g.id: g for g in c.generations()} for c in self.catalogs]
        common = set(per_engine[0]).intersection(*per_engine[1:])
        return sorted((per_engine[0][g] for g in common), key=lambda g: (g.created_at, g.id), reverse=True)

    def drop(self, generation_id: str) -> None:
        for catalog in self.catalogs:
            catalog.drop(generation_id)

    def gc(self, keep: int) -> list[str]:
        dropped: list[str] = []
        for catalog in self.catalogs:
            dropped = sorted(set(dropped) | set(catalog.gc(keep)))
        return dropped

    def _each(self, action: Callable[[IdentifiedCatalog], GenerationInfo]) -> GenerationInfo:
        before = [c.live() for c in self.catalogs]
        done: list[tuple[IdentifiedCatalog, GenerationInfo | None]] = []
        result: GenerationInfo | None = None
        try:
            for catalog, prior in zip(self.catalogs, before, strict=True):
                info = action(catalog)
                done.append((catalog, prior))
                result = result or info
        except Exception:
            for catalog, prior in reversed(done):
                if prior is not None:
                    with contextlib.suppress(Exception):
                        catalog.promote(prior.id)
            raise
        assert result is not None
        return result
