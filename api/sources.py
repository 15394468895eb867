"""The pipeline's manifest, read-only, as the agent's :class:`agent.evidence.SourceCatalog`.

The API must not import ``pipelines`` (imports point down: nothing imports api or pipelines),
so this reads the manifest's committed tables with plain SQL over a read-only SQLite
connection: ``documents`` (id, source, ACL, updated_at), ``failures`` (locator, reason, ACL)
and ``sources`` (last successful sync). It never writes, never sees staged (uncommitted) rows,
and returns records unfiltered: :meth:`agent.tools.Toolbox.list_sources` filters them by the
asking principal before anything is counted.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from agent.evidence import DocumentRecord, FailureRecord, SourceRecord
from core.settings import Settings

MANIFEST_PATH = Path("pipeline") / "manifest.sqlite3"


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ManifestSourceCatalog:
    """Per-source records from ``<data_dir>/pipeline/manifest.sqlite3`` plus configured sources."""

    def __init__(self, path: Path, configured: Mapping[str, str]) -> None:
        self.path = Path(path)
        self.configured = dict(configured)

    @classmethod
    def from_settings(cls, settings: Settings) -> ManifestSourceCatalog:
        return cls(
            Path(settings.backend.data_dir) / MANIFEST_PATH,
            {s.id: s.kind for s in settings.pipeline.sources},
        )

    def source_records(self) -> list[SourceRecord]:
        documents: dict[str, list[DocumentRecord]] = {}
        failures: dict[str, list[FailureRecord]] = {}
        synced: dict[str, datetime | None] = {}
        if self.path.is_file():
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            try:
                for doc_id, source_id, acl, updated in conn.execute(
                    "SELECT document_id, source_id, acl, updated_at FROM documents"
                ):
                    documents.setdefault(source_id, []).append(
                        DocumentRecord(
                            document_id=doc_id,
                            acl=tuple(json.loads(acl)),
                            updated_at=_when(updated) or datetime.min.replace(tzinfo=UTC),
                        )
                    )
                for source_id, locator, reason, acl, last_seen in conn.execute(
                    "SELECT source_id, locator, reason, acl, last_seen FROM failures "
                    "ORDER BY first_seen, locator"
                ):
                    failures.setdefault(source_id, []).append(
                        FailureRecord(
                            locator=locator,
                            reason=reason,
                            acl=tuple(json.loads(acl or "[]")),
                            failed_at=_when(last_seen),
                        )
                    )
                for source_id, last_sync in conn.execute("SELECT source_id, last_sync_at FROM sources"):
                    synced[source_id] = _when(last_sync)
            except sqlite3.OperationalError:
                pass  # a manifest from before the first committed run: nothing indexed yet
            finally:
                conn.close()
        ids = list(dict.fromkeys([*self.configured, *documents, *failures, *synced]))
        return [
            SourceRecord(
                source_id=sid,
                kind=self.configured.get(sid, "unknown"),
                last_indexed_at=synced.get(sid),
                documents=tuple(documents.get(sid, ())),
                failures=tuple(failures.get(sid, ())),
            )
            for sid in ids
        ]
