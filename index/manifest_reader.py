"""The pipeline's manifest, read-only: what the index holds, per source, for the read side.

The pipeline (``pipelines.manifest``) writes the manifest; the API lists sources from it (last
indexed, documents with their ACLs, failures), and the golden-set evaluation checks citations
against its chunks (:class:`agent.golden.ManifestChunks`). The API must not import
``pipelines`` (imports point down), so the schema of the committed tables lives here, in the
layer both reach: the pipeline creates its tables from :data:`COMMITTED_SCHEMA` and finds the
file with :func:`manifest_path`, and :class:`ManifestReader` reads the same columns, so the two
cannot drift.

The reader opens the file read-only (``mode=ro``), sees only committed rows (staged plans live in
other tables) and returns records unfiltered: whoever shows them filters by the asking principal
before anything is counted (:meth:`agent.tools.Toolbox.list_sources`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.models import ChunkSpan

MANIFEST_DIR = "pipeline"
MANIFEST_FILE = "manifest.sqlite3"
MANIFEST_RELPATH = Path(MANIFEST_DIR) / MANIFEST_FILE
"""Where the manifest lives under ``backend.data_dir``."""

CHUNK_FIELDS = """
    document_id  TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    ordinal      INTEGER NOT NULL,
    text         TEXT NOT NULL,
    text_hash    TEXT NOT NULL,
    span_start   INTEGER NOT NULL,
    span_end     INTEGER NOT NULL,
    section_path TEXT NOT NULL,
    page         INTEGER"""
"""A chunk's columns after ``chunk_id``, shared by the committed ``chunks`` table and the staged
``plan_chunks`` (:mod:`pipelines.staging`): both hold the same rows (a commit moves staged
chunks into ``chunks`` as they are), so the two must not drift."""

COMMITTED_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS documents (
    document_id  TEXT PRIMARY KEY,
    source_id    TEXT NOT NULL,
    locator      TEXT NOT NULL,
    uri          TEXT NOT NULL,
    title        TEXT NOT NULL,
    title_explicit INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL,
    acl          TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL DEFAULT '',
    validators   TEXT NOT NULL DEFAULT '{}',
    chunk_count  INTEGER NOT NULL,
    indexed_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_source ON documents (source_id);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id     TEXT PRIMARY KEY,"""
    + CHUNK_FIELDS
    + """
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks (source_id);
CREATE TABLE IF NOT EXISTS failures (
    source_id    TEXT NOT NULL,
    locator      TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    stage        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    fingerprint  TEXT NOT NULL DEFAULT '',
    acl          TEXT NOT NULL DEFAULT '[]',
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    PRIMARY KEY (source_id, locator)
);
CREATE TABLE IF NOT EXISTS sources (
    source_id       TEXT PRIMARY KEY,
    last_sync_at    TEXT NOT NULL,
    last_run_id     TEXT NOT NULL,
    last_generation TEXT
);
"""
)
"""The committed tables (documents, chunks, failures, sources): timestamps are ISO 8601 in UTC,
ACLs and section paths JSON arrays."""

COMMITTED_TABLES = ("documents", "chunks", "failures", "sources")


def manifest_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / MANIFEST_RELPATH


def parse_time(value: str) -> datetime:
    """A manifest timestamp (naive ones are UTC)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ManifestDocument:
    """An indexed document as the read side needs it: no text, no title."""

    document_id: str
    source_id: str
    acl: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True)
class ManifestFailure:
    """A document the pipeline could not index; ``acl`` is the one it would have had (may be empty)."""

    source_id: str
    locator: str
    document_id: str
    stage: str
    reason: str
    acl: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class ManifestChunk:
    """A committed chunk with its document's ACL: the text the pipeline indexed, at ``span`` of
    the document's normalized text."""

    chunk_id: str
    document_id: str
    text: str
    span: ChunkSpan
    acl: tuple[str, ...]


@dataclass(frozen=True)
class ManifestSource:
    """One source as the manifest holds it (unfiltered)."""

    source_id: str
    last_indexed_at: datetime | None = None  # the last committed run (None: never synced)
    last_run_id: str | None = None
    last_generation: str | None = None
    documents: tuple[ManifestDocument, ...] = ()
    failures: tuple[ManifestFailure, ...] = ()

    @property
    def document_count(self) -> int:
        return len(self.documents)

    @property
    def failure_count(self) -> int:
        return len(self.failures)


class ManifestReader:
    """Read-only access to the committed tables of one manifest file.

    :meth:`sources` opens the file per call; the point lookups (:meth:`chunk`,
    :meth:`document_acl`), which an evaluation makes per citation and per id, share one
    connection opened on first use: :meth:`close` it when done.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lookups: sqlite3.Connection | None = None
        # callers may look up from several threads (check_same_thread=False); a connection
        # runs one statement at a time, so the lookups take turns
        self._lookup_lock = threading.Lock()

    @classmethod
    def for_data_dir(cls, data_dir: Path | str) -> ManifestReader:
        return cls(manifest_path(data_dir))

    def exists(self) -> bool:
        return self.path.is_file()

    def _open(self) -> sqlite3.Connection:
        # mode=ro: never creates the file, never writes; any thread may use it (see _lookup)
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10, check_same_thread=False)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    def _lookup(self, sql: str, args: tuple[str, ...]) -> tuple[Any, ...] | None:
        with self._lookup_lock:
            if self._lookups is None:
                self._lookups = self._open()
            row: tuple[Any, ...] | None = self._lookups.execute(sql, args).fetchone()
            return row

    def chunk(self, chunk_id: str) -> ManifestChunk | None:
        """The committed chunk ``chunk_id`` with its document's ACL (``None``: no such chunk)."""
        row = self._lookup(
            "SELECT c.chunk_id, c.document_id, c.text, c.span_start, c.span_end, d.acl "
            "FROM chunks c JOIN documents d ON d.document_id = c.document_id WHERE c.chunk_id = ?",
            (chunk_id,),
        )
        if row is None:
            return None
        cid, doc_id, text, start, end, acl = row
        return ManifestChunk(cid, doc_id, text, ChunkSpan(start=start, end=end), tuple(json.loads(acl)))

    def document_acl(self, document_id: str) -> tuple[str, ...] | None:
        """The committed ACL of a document (``None``: no such document)."""
        row = self._lookup("SELECT acl FROM documents WHERE document_id = ?", (document_id,))
        return None if row is None else tuple(json.loads(row[0]))

    def close(self) -> None:
        """Close the lookups' connection (a later lookup opens a new one)."""
        with self._lookup_lock:
            if self._lookups is not None:
                self._lookups.close()
                self._lookups = None

    def sources(self) -> dict[str, ManifestSource]:
        """Every source with anything committed (documents, failures or a sync), by id.

        A missing file, or one without the committed tables yet, holds nothing: ``{}``.
        """
        if not self.exists():
            return {}
        documents: dict[str, list[ManifestDocument]] = {}
        failures: dict[str, list[ManifestFailure]] = {}
        synced: dict[str, tuple[datetime, str, str | None]] = {}
        try:
            with self._connect() as conn:
                # one read transaction: documents, failures and syncs of the same commit
                conn.execute("BEGIN")
                for doc_id, source_id, acl, updated in conn.execute(
                    "SELECT document_id, source_id, acl, updated_at FROM documents "
                    "ORDER BY source_id, document_id"
                ):
                    documents.setdefault(source_id, []).append(
                        ManifestDocument(doc_id, source_id, tuple(json.loads(acl)), parse_time(updated))
                    )
                for source_id, locator, doc_id, stage, reason, acl, first, last in conn.execute(
                    "SELECT source_id, locator, document_id, stage, reason, acl, first_seen, last_seen "
                    "FROM failures ORDER BY source_id, first_seen, locator"
                ):
                    failures.setdefault(source_id, []).append(
                        ManifestFailure(
                            source_id=source_id,
                            locator=locator,
                            document_id=doc_id,
                            stage=stage,
                            reason=reason,
                            acl=tuple(json.loads(acl or "[]")),
                            first_seen=parse_time(first),
                            last_seen=parse_time(last),
                        )
                    )
                for source_id, last_sync, run_id, generation in conn.execute(
                    "SELECT source_id, last_sync_at, last_run_id, last_generation FROM sources"
                ):
                    synced[source_id] = (parse_time(last_sync), run_id, generation)
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}  # created by a pipeline that has not committed its schema yet
            raise
        out: dict[str, ManifestSource] = {}
        for sid in sorted({*documents, *failures, *synced}):
            sync = synced.get(sid)
            out[sid] = ManifestSource(
                source_id=sid,
                last_indexed_at=sync[0] if sync else None,
                last_run_id=sync[1] if sync else None,
                last_generation=sync[2] if sync else None,
                documents=tuple(documents.get(sid, ())),
                failures=tuple(failures.get(sid, ())),
            )
        return out
