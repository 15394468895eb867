"""The manifest: what the index holds, per source, in one SQLite file in ``data_dir``.

Why a manifest at all: the stores answer searches, not "what changed since last time". The
manifest records, for every indexed document, its locator, content hash, ACL, updated_at and a
cheap fingerprint (mtime and size, or the server's validators), and for every chunk its id, text
hash, span and text. That is what makes a run incremental (diff the listing against it), what the
asset checks compare the stores against, and what lets a new generation be rebuilt without
re-parsing a single file (chunk text from here, vectors from the embedding cache).

The manifest is the *committed* state: it changes only after both stores hold the same thing (see
:mod:`pipelines.plans` for the staged state of a run in progress and :mod:`pipelines.commit` for
the commit). Failures are data too: one row per document that could not be listed, fetched or
parsed, with its reason, kept until the document is indexed or disappears.

Tables::

    documents   one row per indexed document        (committed)
    chunks      one row per indexed chunk           (committed)
    failures    one row per failing document        (committed)
    sources     last successful sync per source     (committed)
    plans, plan_documents, plan_chunks              (staged; pipelines.plans)
    dirty_documents                                 (journal; pipelines.plans)

The committed tables' schema and the file's place (``data_dir/pipeline/manifest.sqlite3``) are
defined in :mod:`index.manifest_reader`, the read-only side the API uses.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from core.models import Chunk, ChunkSpan
from index.manifest_reader import COMMITTED_SCHEMA, manifest_path, parse_time


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def from_iso(value: str) -> datetime:
    return parse_time(value)


@dataclass(frozen=True)
class DocumentMeta:
    """What every chunk of a document carries in its payload besides its own text and span."""

    document_id: str
    source_id: str
    locator: str
    uri: str
    title: str
    acl: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True)
class IndexedDocument(DocumentMeta):
    """A document as the index holds it (the committed state)."""

    content_hash: str = ""
    title_explicit: bool = False
    fingerprint: str = ""
    validators: dict[str, str] = field(default_factory=dict)
    chunk_count: int = 0
    indexed_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk without its document's metadata: what the manifest and the staging tables keep."""

    chunk_id: str
    document_id: str
    source_id: str
    ordinal: int
    text: str
    text_hash: str
    start: int
    end: int
    section_path: tuple[str, ...] = ()
    page: int | None = None

    def to_chunk(self, meta: DocumentMeta) -> Chunk:
        return Chunk(
            id=self.chunk_id,
            document_id=self.document_id,
            source_id=self.source_id,
            text=self.text,
            span=ChunkSpan(start=self.start, end=self.end),
            section_path=self.section_path,
            page=self.page,
            title=meta.title,
            uri=meta.uri,
            acl=meta.acl,
            updated_at=meta.updated_at,
            ordinal=self.ordinal,
        )

    @classmethod
    def from_chunk(cls, chunk: Chunk) -> ChunkRecord:
        return cls(
            chunk_id=chunk.id,
            document_id=chunk.document_id,
            source_id=chunk.source_id,
            ordinal=chunk.ordinal,
            text=chunk.text,
            text_hash=chunk.text_hash,
            start=chunk.span.start,
            end=chunk.span.end,
            section_path=chunk.section_path,
            page=chunk.page,
        )


@dataclass(frozen=True)
class Failure:
    """A document that could not be indexed, and why; stays until it is indexed or gone."""

    source_id: str
    locator: str
    document_id: str
    stage: str
    reason: str
    first_seen: datetime
    last_seen: datetime
    content_hash: str = ""
    fingerprint: str = ""
    acl: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceStatus:
    source_id: str
    last_sync_at: datetime
    last_run_id: str
    last_generation: str | None


CHUNK_COLUMNS = (
    "chunk_id, document_id, source_id, ordinal, text, text_hash, span_start, span_end, section_path, page"
)


def chunk_row(c: ChunkRecord) -> tuple[Any, ...]:
    return (
        c.chunk_id,
        c.document_id,
        c.source_id,
        c.ordinal,
        c.text,
        c.text_hash,
        c.start,
        c.end,
        json.dumps(list(c.section_path)),
        c.page,
    )


def chunk_from_row(row: sqlite3.Row | tuple[Any, ...]) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=row[0],
        document_id=row[1],
        source_id=row[2],
        ordinal=row[3],
        text=row[4],
        text_hash=row[5],
        start=row[6],
        end=row[7],
        section_path=tuple(json.loads(row[8])),
        page=row[9],
    )


_DOCUMENT_COLUMNS = (
    "document_id, source_id, locator, uri, title, title_explicit, content_hash, acl, updated_at, "
    "fingerprint, validators, chunk_count, indexed_at"
)


def _document_from_row(row: sqlite3.Row | tuple[Any, ...]) -> IndexedDocument:
    return IndexedDocument(
        document_id=row[0],
        source_id=row[1],
        locator=row[2],
        uri=row[3],
        title=row[4],
        title_explicit=bool(row[5]),
        content_hash=row[6],
        acl=tuple(json.loads(row[7])),
        updated_at=from_iso(row[8]),
        fingerprint=row[9],
        validators=dict(json.loads(row[10])),
        chunk_count=row[11],
        indexed_at=from_iso(row[12]),
    )


def document_row(d: IndexedDocument) -> tuple[Any, ...]:
    return (
        d.document_id,
        d.source_id,
        d.locator,
        d.uri,
        d.title,
        int(d.title_explicit),
        d.content_hash,
        json.dumps(list(d.acl)),
        to_iso(d.updated_at),
        d.fingerprint,
        json.dumps(d.validators, sort_keys=True),
        d.chunk_count,
        to_iso(d.indexed_at),
    )


class Manifest:
    """The manifest database of one ``data_dir`` (one connection; not shared across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are explicit (``with self.transaction()``)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # a committed run survives power loss
        self.conn.execute("PRAGMA foreign_keys=OFF")
        # the committed tables' schema is shared with the read side (index.manifest_reader, used
        # by the API): one definition, so writer and reader cannot drift
        self.conn.executescript(COMMITTED_SCHEMA)
        from pipelines.staging import create_staging_tables  # staging lives in the same file

        create_staging_tables(self.conn)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Manifest:
        return cls(manifest_path(data_dir))

    # ---- lifecycle

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def transaction(self) -> _Transaction:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error): all or nothing."""
        return _Transaction(self.conn)

    # ---- committed documents and chunks

    def documents(self, source_id: str | None = None) -> dict[str, IndexedDocument]:
        """Indexed documents by id, of one source or all."""
        sql = f"SELECT {_DOCUMENT_COLUMNS} FROM documents"
        rows = (
            self.conn.execute(sql + " WHERE source_id = ?", (source_id,))
            if source_id is not None
            else self.conn.execute(sql)
        )
        return {row[0]: _document_from_row(row) for row in rows}

    def document_count(self, source_id: str | None = None) -> int:
        if source_id is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
        return int(
            self.conn.execute("SELECT COUNT(*) FROM documents WHERE source_id = ?", (source_id,)).fetchone()[
                0
            ]
        )

    def chunk_ids(self, *, source_id: str | None = None, document_id: str | None = None) -> set[str]:
        where, args = _where(source_id=source_id, document_id=document_id)
        return {row[0] for row in self.conn.execute(f"SELECT chunk_id FROM chunks{where}", args)}

    def chunk_count(self, source_id: str | None = None) -> int:
        where, args = _where(source_id=source_id)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM chunks{where}", args).fetchone()[0])

    def chunk_records(
        self, *, source_id: str | None = None, document_ids: Iterable[str] | None = None
    ) -> list[ChunkRecord]:
        """Committed chunk records, ordered by document and ordinal."""
        if document_ids is not None:
            out: list[ChunkRecord] = []
            ids = list(document_ids)
            for i in range(0, len(ids), 500):
                batch = ids[i : i + 500]
                marks = ",".join("?" * len(batch))
                out += [
                    chunk_from_row(r)
                    for r in self.conn.execute(
                        f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE document_id IN ({marks}) "
                        "ORDER BY document_id, ordinal",
                        batch,
                    )
                ]
            return out
        where, args = _where(source_id=source_id)
        return [
            chunk_from_row(r)
            for r in self.conn.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks{where} ORDER BY document_id, ordinal", args
            )
        ]

    def indexed_chunks(
        self, *, source_id: str | None = None, exclude_sources: Sequence[str] = ()
    ) -> Iterator[Chunk]:
        """Every committed chunk as a full :class:`Chunk` (payload from its document), for rebuilds."""
        docs = self.documents(source_id)
        for record in self.chunk_records(source_id=source_id):
            if record.source_id in exclude_sources:
                continue
            yield record.to_chunk(docs[record.document_id])

    def text_hashes(self, source_id: str | None = None) -> set[str]:
        where, args = _where(source_id=source_id)
        return {r[0] for r in self.conn.execute(f"SELECT DISTINCT text_hash FROM chunks{where}", args)}

    # ---- failures

    def failures(self, source_id: str | None = None) -> list[Failure]:
        """Documents that could not be indexed, with their reasons (oldest first)."""
        sql = (
            "SELECT source_id, locator, document_id, stage, reason, first_seen, last_seen, content_hash, "
            "fingerprint, acl FROM failures"
        )
        rows = (
            self.conn.execute(sql + " WHERE source_id = ? ORDER BY first_seen, locator", (source_id,))
            if source_id is not None
            else self.conn.execute(sql + " ORDER BY source_id, first_seen, locator")
        )
        return [
            Failure(
                source_id=r[0],
                locator=r[1],
                document_id=r[2],
                stage=r[3],
                reason=r[4],
                first_seen=from_iso(r[5]),
                last_seen=from_iso(r[6]),
                content_hash=r[7],
                fingerprint=r[8],
                acl=tuple(json.loads(r[9])),
            )
            for r in rows
        ]

    # ---- sources

    def source_status(self, source_id: str) -> SourceStatus | None:
        row = self.conn.execute(
            "SELECT source_id, last_sync_at, last_run_id, last_generation FROM sources WHERE source_id = ?",
            (source_id,),
        ).fetchone()
        if row is None:
            return None
        return SourceStatus(row[0], from_iso(row[1]), row[2], row[3])

    def source_ids(self) -> set[str]:
        """Sources that have anything committed (documents, failures or a sync)."""
        out: set[str] = set()
        for table in ("documents", "failures", "sources"):
            out |= {r[0] for r in self.conn.execute(f"SELECT DISTINCT source_id FROM {table}")}
        return out


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def _where(**conditions: str | None) -> tuple[str, tuple[str, ...]]:
    parts = [(f"{name} = ?", value) for name, value in conditions.items() if value is not None]
    if not parts:
        return "", ()
    return " WHERE " + " AND ".join(p for p, _ in parts), tuple(v for _, v in parts if v is not None)
