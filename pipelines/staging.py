"""Staging: the plan of a run in progress, stored in the manifest database.

A run does not hold its work in memory between stages (or in Dagster's I/O manager): each stage
reads the plan from here, does its part and records the result here (parsed text and blocks on
the planned documents, chunks in ``plan_chunks``). So a stage can run in another process than
the previous one, a run can be inspected while in flight, and a crashed run leaves a plan the
next run can reconcile (:mod:`pipelines.recovery`). The commit (:mod:`pipelines.commit`) deletes
the plan in the same transaction that updates the manifest.

``dirty_documents`` is the journal of writes into a live index (server mode): documents are
marked before the first write and cleared by the commit, so the next run knows which documents a
crash may have left half-written.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from index.chunking import Block
from index.manifest_reader import CHUNK_FIELDS
from pipelines.errors import StalePlanError
from pipelines.manifest import (
    CHUNK_COLUMNS,
    ChunkRecord,
    Manifest,
    chunk_from_row,
    chunk_row,
    from_iso,
    to_iso,
    utcnow,
)
from pipelines.plans import Action, ListingCounts, Plan, PlannedDocument, Stage
from pipelines.sources.base import Content, FetchedContent, FileContent, TextContent

_STAGING = (
    """
CREATE TABLE IF NOT EXISTS plans (
    source_id         TEXT PRIMARY KEY,
    plan_id           TEXT NOT NULL,
    stage             TEXT NOT NULL,
    full              INTEGER NOT NULL,
    allow_mass_delete INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    run_id            TEXT NOT NULL DEFAULT '',
    base_generation   TEXT,
    generation_id     TEXT,
    target            TEXT,
    counts            TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS plan_documents (
    source_id      TEXT NOT NULL,
    document_id    TEXT NOT NULL,
    action         TEXT NOT NULL,
    locator        TEXT NOT NULL,
    uri            TEXT NOT NULL,
    title          TEXT,
    acl            TEXT NOT NULL,
    updated_at     TEXT,
    observed_at    TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    validators     TEXT NOT NULL,
    content_kind   TEXT,
    content_path   TEXT,
    content_data   BLOB,
    content_name   TEXT,
    content_type   TEXT,
    text           TEXT,
    blocks         TEXT,
    parsed_title   TEXT,
    status         TEXT NOT NULL,
    stage          TEXT,
    reason         TEXT,
    keep_indexed   INTEGER NOT NULL DEFAULT 0,
    dirty          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, document_id)
);
CREATE TABLE IF NOT EXISTS plan_chunks (
    chunk_id     TEXT NOT NULL,"""
    + CHUNK_FIELDS  # the committed chunks' columns: both tables hold the same rows (chunk_row)
    + """,
    PRIMARY KEY (source_id, chunk_id)
);
CREATE INDEX IF NOT EXISTS plan_chunks_by_document ON plan_chunks (source_id, document_id);
CREATE TABLE IF NOT EXISTS dirty_documents (
    source_id   TEXT NOT NULL,
    document_id TEXT NOT NULL,
    since       TEXT NOT NULL,
    PRIMARY KEY (source_id, document_id)
);
"""
)


def create_staging_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(_STAGING)


class PlanStore:
    """Reads and writes the staged plan of one source in the manifest database."""

    def __init__(self, manifest: Manifest, source_id: str) -> None:
        self.manifest = manifest
        self.conn = manifest.conn
        self.source_id = source_id

    # ---- the plan row

    def current(self) -> Plan | None:
        row = self.conn.execute(
            "SELECT source_id, plan_id, stage, full, allow_mass_delete, created_at, run_id, base_generation, "
            "generation_id, target, counts FROM plans WHERE source_id = ?",
            (self.source_id,),
        ).fetchone()
        if row is None:
            return None
        return Plan(
            source_id=row[0],
            plan_id=row[1],
            stage=Stage(row[2]),
            full=bool(row[3]),
            allow_mass_delete=bool(row[4]),
            created_at=from_iso(row[5]),
            run_id=row[6],
            base_generation=row[7],
            generation_id=row[8],
            target=row[9],
            counts=json.loads(row[10]),
        )

    def require(self, at_least: Stage, *, what: str) -> Plan | None:
        """The staged plan if it has reached ``at_least``; None if nothing is staged."""
        plan = self.current()
        if plan is None:
            return None
        if plan.stage.order < at_least.order:
            raise StalePlanError(
                f"source '{self.source_id}': {what} needs the plan at stage '{at_least}', but it is at "
                f"'{plan.stage}': materialize the upstream assets first (or the whole ingest job)"
            )
        return plan

    def stage_new(
        self,
        planned: list[PlannedDocument],
        counts: ListingCounts,
        *,
        full: bool,
        allow_mass_delete: bool,
        run_id: str,
    ) -> Plan:
        """Replace whatever is staged for the source with a new plan at stage ``listed``."""
        plan = Plan(
            source_id=self.source_id,
            plan_id=secrets.token_hex(8),
            stage=Stage.LISTED,
            full=full,
            allow_mass_delete=allow_mass_delete,
            created_at=utcnow(),
            run_id=run_id,
            counts=counts.as_dict(),
        )
        with self.manifest.transaction() as conn:
            self._clear(conn)
            conn.execute(
                "INSERT INTO plans (source_id, plan_id, stage, full, allow_mass_delete, created_at, run_id, "
                "counts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    plan.source_id,
                    plan.plan_id,
                    plan.stage.value,
                    int(full),
                    int(allow_mass_delete),
                    to_iso(plan.created_at),
                    run_id,
                    json.dumps(plan.counts),
                ),
            )
            conn.executemany(
                f"INSERT INTO plan_documents ({_PLANNED_COLUMNS.format(data='content_data')}) "
                f"VALUES ({', '.join('?' * 25)})",
                [_document_row(p) for p in planned],
            )
        return plan

    def discard(self) -> None:
        with self.manifest.transaction() as conn:
            self._clear(conn)

    def _clear(self, conn: sqlite3.Connection) -> None:
        for table in ("plans", "plan_documents", "plan_chunks"):
            conn.execute(f"DELETE FROM {table} WHERE source_id = ?", (self.source_id,))

    def advance(self, stage: Stage, **fields: Any) -> None:
        sets = ["stage = ?"] + [f"{name} = ?" for name in fields]
        values = [stage.value, *(json.dumps(v) if name == "counts" else v for name, v in fields.items())]
        self.conn.execute(
            f"UPDATE plans SET {', '.join(sets)} WHERE source_id = ?", (*values, self.source_id)
        )

    def add_counts(self, **numbers: float) -> None:
        """Merge a stage's figures into the plan (the final asset reports the whole run)."""
        plan = self.current()
        if plan is None:
            return
        merged = {**plan.counts, **numbers}
        self.conn.execute(
            "UPDATE plans SET counts = ? WHERE source_id = ?", (json.dumps(merged), self.source_id)
        )

    def set_fields(self, **fields: Any) -> None:
        sets = [f"{name} = ?" for name in fields]
        values = [json.dumps(v) if name == "counts" else v for name, v in fields.items()]
        self.conn.execute(
            f"UPDATE plans SET {', '.join(sets)} WHERE source_id = ?", (*values, self.source_id)
        )

    # ---- planned documents

    def documents(self, actions: Iterable[Action] | None = None) -> list[PlannedDocument]:
        """Planned documents (fetched bytes left out: see :meth:`document`), by locator."""
        wanted = {a.value for a in actions} if actions is not None else None
        rows = self.conn.execute(
            f"SELECT {_PLANNED_COLUMNS.format(data='NULL')} FROM plan_documents "
            "WHERE source_id = ? ORDER BY locator",
            (self.source_id,),
        )
        return [_document_from_row(r) for r in rows if wanted is None or r[2] in wanted]

    def document(self, document_id: str) -> PlannedDocument:
        """One planned document with its content (fetched bytes included)."""
        row = self.conn.execute(
            f"SELECT {_PLANNED_COLUMNS.format(data='content_data')} FROM plan_documents "
            "WHERE source_id = ? AND document_id = ?",
            (self.source_id, document_id),
        ).fetchone()
        if row is None:
            raise StalePlanError(
                f"source '{self.source_id}': document {document_id} is not in the staged plan"
            )
        return _document_from_row(row)

    def record_parsed(
        self, doc_id: str, text: str, blocks: tuple[Block, ...], title: str, content_hash: str
    ) -> None:
        self.conn.execute(
            "UPDATE plan_documents SET status = 'parsed', text = ?, blocks = ?, parsed_title = ?, "
            "content_hash = ?, content_data = NULL, stage = NULL, reason = NULL "
            "WHERE source_id = ? AND document_id = ?",
            (text, _blocks_json(blocks), title, content_hash, self.source_id, doc_id),
        )

    def record_failed(
        self, doc_id: str, stage: str, reason: str, action: Action, content_hash: str | None = None
    ) -> None:
        self.conn.execute(
            "UPDATE plan_documents SET status = 'failed', stage = ?, reason = ?, action = ?, "
            "content_hash = COALESCE(?, content_hash), content_data = NULL, text = NULL, blocks = NULL "
            "WHERE source_id = ? AND document_id = ?",
            (stage, reason, action.value, content_hash, self.source_id, doc_id),
        )

    # ---- planned chunks

    def replace_chunks(self, records: list[ChunkRecord]) -> None:
        with self.manifest.transaction() as conn:
            conn.execute("DELETE FROM plan_chunks WHERE source_id = ?", (self.source_id,))
            conn.executemany(
                f"INSERT OR REPLACE INTO plan_chunks ({CHUNK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [chunk_row(c) for c in records],
            )

    def chunks(self, document_ids: Iterable[str] | None = None) -> list[ChunkRecord]:
        rows = self.conn.execute(
            f"SELECT {CHUNK_COLUMNS} FROM plan_chunks WHERE source_id = ? ORDER BY document_id, ordinal",
            (self.source_id,),
        )
        records = [chunk_from_row(r) for r in rows]
        if document_ids is None:
            return records
        wanted = set(document_ids)
        return [c for c in records if c.document_id in wanted]

    # ---- the journal of documents whose store state may differ from the manifest

    def dirty(self) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT document_id FROM dirty_documents WHERE source_id = ?", (self.source_id,)
            )
        }

    def mark_dirty(self, document_ids: Iterable[str]) -> None:
        now = to_iso(utcnow())
        with self.manifest.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO dirty_documents (source_id, document_id, since) VALUES (?, ?, ?)",
                [(self.source_id, d, now) for d in document_ids],
            )


_PLANNED_COLUMNS = (
    "source_id, document_id, action, locator, uri, title, acl, updated_at, observed_at, content_hash, "
    "fingerprint, validators, content_kind, content_path, {data}, content_name, content_type, text, "
    "blocks, parsed_title, status, stage, reason, keep_indexed, dirty"
)


def _blocks_json(blocks: Iterable[Block]) -> str:
    return json.dumps([[b.start, b.end, list(b.section_path), b.page, b.is_title] for b in blocks])


def _blocks_from_json(raw: str | None) -> tuple[Block, ...]:
    if not raw:
        return ()
    return tuple(Block(s, e, tuple(path), page, bool(title)) for s, e, path, page, title in json.loads(raw))


def _document_row(p: PlannedDocument) -> tuple[Any, ...]:
    kind: str | None = None
    path: str | None = None
    data: bytes | None = None
    name: str | None = None
    ctype: str | None = None
    text = p.text
    blocks = _blocks_json(p.blocks) if p.blocks else None
    parsed_title = p.parsed_title
    content = p.content
    if isinstance(content, FileContent):
        kind, path = "file", str(content.path)
    elif isinstance(content, FetchedContent):
        kind, data, name, ctype = "fetched", content.data, content.filename, content.content_type
    elif isinstance(content, TextContent):
        kind, text, blocks, parsed_title = "text", content.text, _blocks_json(content.blocks), content.title
    return (
        p.source_id,
        p.document_id,
        p.action.value,
        p.locator,
        p.uri,
        p.title,
        json.dumps(list(p.acl)),
        to_iso(p.updated_at) if p.updated_at else None,
        to_iso(p.observed_at),
        p.content_hash,
        p.fingerprint,
        json.dumps(dict(p.validators), sort_keys=True),
        kind,
        path,
        data,
        name,
        ctype,
        text,
        blocks,
        parsed_title,
        p.status,
        p.stage,
        p.reason,
        int(p.keep_indexed),
        int(p.dirty),
    )


def _document_from_row(r: tuple[Any, ...]) -> PlannedDocument:
    kind, path, data, name, ctype = r[12], r[13], r[14], r[15], r[16]
    content: Content | None = None
    if kind == "file":
        content = FileContent(Path(path))
    elif kind == "fetched" and data is not None:
        content = FetchedContent(bytes(data), name, ctype)
    elif kind == "text" and r[17] is not None:
        content = TextContent(r[17], _blocks_from_json(r[18]), r[19] or "")
    return PlannedDocument(
        source_id=r[0],
        document_id=r[1],
        action=Action(r[2]),
        locator=r[3],
        uri=r[4],
        title=r[5],
        acl=tuple(json.loads(r[6])),
        updated_at=from_iso(r[7]) if r[7] else None,
        observed_at=from_iso(r[8]),
        content_hash=r[9],
        fingerprint=r[10],
        validators=json.loads(r[11]),
        content=content,
        text=r[17],
        blocks=_blocks_from_json(r[18]),
        parsed_title=r[19],
        status=r[20],
        stage=r[21],
        reason=r[22],
        keep_indexed=bool(r[23]),
        dirty=bool(r[24]),
    )
