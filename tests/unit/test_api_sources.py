"""Sources as a principal sees them: counts, staleness and failures of readable documents only."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.catalog import ManifestSourceCatalog
from agent.evidence import NoSourceCatalog, SourceRecord
from agent.tools import Toolbox
from core.acl import Principal
from core.settings import load_settings
from index.manifest_reader import COMMITTED_SCHEMA, manifest_path
from retrieval.freshness import FreshnessPolicy

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _manifest(path: Path) -> Path:
    """The committed tables of the pipeline's manifest (the shared schema), with a few rows."""
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript(COMMITTED_SCHEMA)
    old, new = (NOW - timedelta(days=400)).isoformat(), (NOW - timedelta(days=3)).isoformat()
    conn.executemany(
        "INSERT INTO documents (document_id, source_id, locator, uri, title, content_hash, acl, "
        "updated_at, chunk_count, indexed_at) VALUES (?, ?, ?, '', '', '', ?, ?, 1, ?)",
        [
            ("d1", "handbook", "d1", json.dumps(["public"]), new, new),
            ("d2", "handbook", "d2", json.dumps(["group:hr"]), old, new),
            ("d3", "finance", "d3", json.dumps(["group:finance"]), new, new),
            ("d4", "finance", "d4", json.dumps(["group:finance"]), old, new),
            ("d5", "finance", "d5", json.dumps([]), new, new),
        ],
    )
    conn.executemany(
        "INSERT INTO failures (source_id, locator, document_id, stage, reason, acl, first_seen, last_seen) "
        "VALUES (?, ?, ?, 'parse', ?, ?, ?, ?)",
        [
            ("finance", "budget/secret-plan.pdf", "f1", "no text", json.dumps(["group:finance"]), new, new),
            ("handbook", "broken.pdf", "f2", "no text", json.dumps([]), new, new),
        ],
    )
    conn.execute(
        "INSERT INTO sources (source_id, last_sync_at, last_run_id) VALUES ('handbook', ?, 'r'), "
        "('finance', ?, 'r')",
        (new, new),
    )
    conn.commit()
    conn.close()
    return path


def _tools(catalog: object, principal: Principal) -> Toolbox:
    return Toolbox(
        principal,
        searcher=None,  # type: ignore[arg-type]
        chunks=None,  # type: ignore[arg-type]
        sources=catalog,  # type: ignore[arg-type]
        freshness=FreshnessPolicy(max_age={"handbook": timedelta(days=365), "finance": timedelta(days=365)}),
        top_k=10,
        clock=lambda: NOW,
    )


def test_counts_and_failures_cover_only_readable_documents(tmp_path: Path) -> None:
    catalog = ManifestSourceCatalog(
        _manifest(tmp_path / "pipeline" / "manifest.sqlite3"),
        {"handbook": "folder", "finance": "folder", "tickets": "tickets"},
    )
    records = {r.source_id: r for r in catalog.source_records()}
    assert set(records) == {"handbook", "finance", "tickets"}
    assert len(records["finance"].documents) == 3

    finance_user = {
        v.source_id: v for v in _tools(catalog, Principal(user_id="c", groups=("finance",))).list_sources()
    }
    assert finance_user["finance"].documents == 2
    assert finance_user["finance"].stale_documents == 1
    assert finance_user["finance"].stale
    assert [f.locator for f in finance_user["finance"].failures] == ["budget/secret-plan.pdf"]
    assert finance_user["handbook"].documents == 1
    assert not finance_user["handbook"].stale
    assert finance_user["handbook"].failures == ()  # an ACL-less failure is shown to nobody
    assert "tickets" not in finance_user  # nothing readable: not listed at all

    outsider = {v.source_id: v for v in _tools(catalog, Principal(user_id="f")).list_sources()}
    assert set(outsider) == {"handbook"}
    assert outsider["handbook"].documents == 1


def test_no_manifest_yet_lists_nothing(tmp_path: Path) -> None:
    catalog = ManifestSourceCatalog(tmp_path / "missing.sqlite3", {"handbook": "folder"})
    assert catalog.source_records() == [SourceRecord(source_id="handbook", kind="folder")]
    assert _tools(catalog, Principal(user_id="a")).list_sources() == []
    assert _tools(NoSourceCatalog([("x", "web")]), Principal(user_id="a")).list_sources() == []


def test_settings_order_first_then_sources_no_longer_configured(tmp_path: Path) -> None:
    """The catalog the API and the evaluation assets build from the settings: configured sources
    in their order (never-synced ones with no records), then committed ones dropped from the
    settings, as ``unknown``."""
    settings = load_settings(
        backend={"data_dir": str(tmp_path)},
        pipeline={
            "sources": [
                {"id": "tickets", "kind": "tickets", "path": str(tmp_path / "t.jsonl")},
                {"id": "handbook", "kind": "folder", "path": str(tmp_path)},
            ]
        },
    )
    _manifest(manifest_path(tmp_path))
    catalog = ManifestSourceCatalog.from_settings(settings)
    assert catalog.path == manifest_path(tmp_path)
    records = catalog.source_records()
    assert [(r.source_id, r.kind) for r in records] == [
        ("tickets", "tickets"),
        ("handbook", "folder"),
        ("finance", "unknown"),
    ]
    assert records[0] == SourceRecord(source_id="tickets", kind="tickets")
    assert [d.document_id for d in records[1].documents] == ["d1", "d2"]
    assert [f.locator for f in records[2].failures] == ["budget/secret-plan.pdf"]
