"""The pipeline's manifest, read-only, as the agent's :class:`agent.evidence.SourceCatalog`.

The API must not import ``pipelines`` (imports point down: nothing imports api or pipelines), so
it reads the manifest through :class:`index.manifest_reader.ManifestReader`, which owns the
schema of the committed tables the pipeline writes: ``documents`` (id, source, ACL,
updated_at), ``failures`` (locator, reason, ACL) and ``sources`` (last successful sync). It
never writes, never sees staged (uncommitted) rows, and returns records unfiltered:
:meth:`agent.tools.Toolbox.list_sources` filters them by the asking principal before anything
is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agent.evidence import DocumentRecord, FailureRecord, SourceRecord
from core.settings import Settings
from index.manifest_reader import MANIFEST_RELPATH, ManifestReader, ManifestSource

MANIFEST_PATH = MANIFEST_RELPATH
"""Where the manifest lives under ``backend.data_dir`` (kept for ``api.commands``)."""


class ManifestSourceCatalog:
    """Per-source records from ``<data_dir>/pipeline/manifest.sqlite3`` plus configured sources."""

    def __init__(self, path: Path, configured: Mapping[str, str]) -> None:
        self.reader = ManifestReader(path)
        self.configured = dict(configured)

    @property
    def path(self) -> Path:
        return self.reader.path

    @classmethod
    def from_settings(cls, settings: Settings) -> ManifestSourceCatalog:
        return cls(
            Path(settings.backend.data_dir) / MANIFEST_PATH,
            {s.id: s.kind for s in settings.pipeline.sources},
        )

    def source_records(self) -> list[SourceRecord]:
        committed = self.reader.sources()
        ids = list(dict.fromkeys([*self.configured, *committed]))
        return [
            _record(sid, self.configured.get(sid, "unknown"), committed.get(sid, ManifestSource(sid)))
            for sid in ids
        ]


def _record(source_id: str, kind: str, source: ManifestSource) -> SourceRecord:
    return SourceRecord(
        source_id=source_id,
        kind=kind,
        last_indexed_at=source.last_indexed_at,
        documents=tuple(
            DocumentRecord(document_id=d.document_id, acl=d.acl, updated_at=d.updated_at)
            for d in source.documents
        ),
        failures=tuple(
            FailureRecord(locator=f.locator, reason=f.reason, acl=f.acl, failed_at=f.last_seen)
            for f in source.failures
        ),
    )
