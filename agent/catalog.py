"""The pipeline's committed manifest as the agent's :class:`agent.evidence.SourceCatalog`.

One catalog for everyone who builds an agent: the API (``api.services``) and the evaluation
assets (``pipelines.evaluation.live``) list the same sources the same way. It lives here, the
lowest layer that knows both the manifest (:class:`index.manifest_reader.ManifestReader`, which
owns the schema of the committed tables the pipeline writes) and the agent's records; the API
must not import ``pipelines`` (imports point down).

It never writes, never sees staged (uncommitted) rows, and returns records unfiltered:
:meth:`agent.tools.Toolbox.list_sources` filters them by the asking principal before anything
is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agent.evidence import DocumentRecord, FailureRecord, SourceRecord
from core.settings import Settings
from index.manifest_reader import ManifestReader, ManifestSource, manifest_path


class ManifestSourceCatalog:
    """Per-source records from ``<data_dir>/pipeline/manifest.sqlite3`` plus configured sources.

    ``configured`` maps source id to kind, in the settings' order; the configured sources come
    first (a never-synced one with no records), then any the manifest still holds that are no
    longer configured (kind ``unknown``).
    """

    def __init__(self, path: Path, configured: Mapping[str, str]) -> None:
        self.reader = ManifestReader(path)
        self.configured = dict(configured)

    @property
    def path(self) -> Path:
        return self.reader.path

    @classmethod
    def from_settings(cls, settings: Settings) -> ManifestSourceCatalog:
        return cls(
            manifest_path(settings.backend.data_dir),
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
