"""Commit: make the manifest say what the stores now hold, in one SQLite transaction.

It runs only after both stores hold the plan (and, for a new generation, after promotion), so
the manifest never claims more than the index has. The transaction also clears the source's
dirty-document journal and deletes the staged plan: either all of that happens or none of it.
The failures table ends up holding exactly the documents that failed in this run (a fixed or
deleted document stops being reported; a still-broken one keeps its ``first_seen``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipelines.manifest import (
    CHUNK_COLUMNS,
    ChunkRecord,
    Failure,
    IndexedDocument,
    Manifest,
    chunk_row,
    document_row,
    to_iso,
    utcnow,
)
from pipelines.plans import Action, Plan
from pipelines.staging import PlanStore


@dataclass(frozen=True)
class CommitCounts:
    documents: int
    chunks: int
    failures: int


def commit_plan(
    manifest: Manifest, store: PlanStore, plan: Plan, *, generation_id: str | None, run_id: str
) -> CommitCounts:
    source_id = store.source_id
    planned = store.documents()
    indexed = manifest.documents(source_id)
    previous_failures = {f.locator: f for f in manifest.failures(source_id)}
    parsed_ids = {
        p.document_id for p in planned if p.action in (Action.ADD, Action.CHANGE) and p.status == "parsed"
    }
    new_chunks: dict[str, list[ChunkRecord]] = {}
    for record in store.chunks(parsed_ids):
        new_chunks.setdefault(record.document_id, []).append(record)
    now = utcnow()
    failed: list[Failure] = []
    with manifest.transaction() as conn:
        for p in planned:
            previous = indexed.get(p.document_id)
            meta = p.meta(previous)
            if p.document_id in parsed_ids:
                records = new_chunks.get(p.document_id, [])
                doc = IndexedDocument(
                    **meta.__dict__,
                    content_hash=p.content_hash,
                    title_explicit=p.title is not None,
                    fingerprint=p.fingerprint,
                    validators=dict(p.validators),
                    chunk_count=len(records),
                    indexed_at=now,
                )
                conn.execute(
                    "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    document_row(doc),
                )
                conn.execute("DELETE FROM chunks WHERE document_id = ?", (p.document_id,))
                conn.executemany(
                    f"INSERT OR REPLACE INTO chunks ({CHUNK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [chunk_row(r) for r in records],
                )
            elif p.action in (Action.REWRITE, Action.ACL, Action.REFRESH) and previous is not None:
                conn.execute(
                    "UPDATE documents SET title = ?, title_explicit = ?, uri = ?, acl = ?, updated_at = ?, "
                    "fingerprint = ?, validators = ?, content_hash = ? WHERE document_id = ?",
                    (
                        meta.title,
                        int(p.title is not None),
                        meta.uri,
                        json.dumps(list(meta.acl)),
                        to_iso(meta.updated_at),
                        p.fingerprint,
                        json.dumps(dict(p.validators), sort_keys=True),
                        p.content_hash,
                        p.document_id,
                    ),
                )
            elif p.action is Action.DELETE:
                conn.execute("DELETE FROM documents WHERE document_id = ?", (p.document_id,))
                conn.execute("DELETE FROM chunks WHERE document_id = ?", (p.document_id,))
            if p.status == "failed" and p.reason is not None:
                first = previous_failures.get(p.locator)
                failed.append(
                    Failure(
                        source_id=source_id,
                        locator=p.locator,
                        document_id=p.document_id,
                        stage=p.stage or "parse",
                        reason=p.reason,
                        first_seen=first.first_seen
                        if first is not None and first.reason == p.reason
                        else now,
                        last_seen=now,
                        content_hash=p.content_hash,
                        fingerprint=p.fingerprint,
                        acl=p.acl,
                    )
                )
        conn.execute("DELETE FROM failures WHERE source_id = ?", (source_id,))
        conn.executemany(
            "INSERT INTO failures (source_id, locator, document_id, stage, reason, content_hash, "
            "fingerprint, acl, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    f.source_id,
                    f.locator,
                    f.document_id,
                    f.stage,
                    f.reason,
                    f.content_hash,
                    f.fingerprint,
                    json.dumps(list(f.acl)),
                    to_iso(f.first_seen),
                    to_iso(f.last_seen),
                )
                for f in failed
            ],
        )
        conn.execute("DELETE FROM dirty_documents WHERE source_id = ?", (source_id,))
        live_generation = generation_id
        if live_generation is None:
            row = conn.execute(
                "SELECT last_generation FROM sources WHERE source_id = ?", (source_id,)
            ).fetchone()
            live_generation = row[0] if row else None
        conn.execute(
            "INSERT OR REPLACE INTO sources (source_id, last_sync_at, last_run_id, last_generation) "
            "VALUES (?, ?, ?, ?)",
            (source_id, to_iso(now), run_id, live_generation),
        )
        for table in ("plans", "plan_documents", "plan_chunks"):
            conn.execute(f"DELETE FROM {table} WHERE source_id = ?", (source_id,))
    return CommitCounts(
        documents=manifest.document_count(source_id),
        chunks=manifest.chunk_count(source_id),
        failures=len(failed),
    )
