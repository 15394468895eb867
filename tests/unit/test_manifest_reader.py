"""The read-only manifest reader (index/) against a manifest the pipeline's own writer created."""

from __future__ import annotations

import ast
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import ChunkSpan
from index.manifest_reader import (
    COMMITTED_SCHEMA,
    COMMITTED_TABLES,
    ManifestChunk,
    ManifestDocument,
    ManifestReader,
    manifest_path,
)
from pipelines.manifest import (
    CHUNK_COLUMNS,
    ChunkRecord,
    IndexedDocument,
    Manifest,
    chunk_row,
    document_row,
    to_iso,
)

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _indexed(doc_id: str, source_id: str, acl: tuple[str, ...]) -> IndexedDocument:
    return IndexedDocument(
        document_id=doc_id,
        source_id=source_id,
        locator=f"{doc_id}.md",
        uri=f"file:///{doc_id}.md",
        title=doc_id,
        acl=acl,
        updated_at=T0,
        content_hash="h",
        chunk_count=1,
        indexed_at=T0,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A manifest written through pipelines.manifest (the writer), as a commit leaves it."""
    with Manifest.for_data_dir(tmp_path) as manifest, manifest.transaction() as conn:
        for doc in (
            _indexed("d1", "handbook", ("public",)),
            _indexed("d2", "handbook", ("group:hr",)),
            _indexed("d3", "finance", ("group:finance",)),
        ):
            conn.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", document_row(doc)
            )
        conn.execute(
            "INSERT INTO failures (source_id, locator, document_id, stage, reason, acl, first_seen, "
            "last_seen) VALUES ('finance', 'scan.pdf', 'f1', 'parse', 'no text', ?, ?, ?)",
            (json.dumps(["group:finance"]), to_iso(T0), to_iso(T0 + timedelta(days=1))),
        )
        conn.execute(
            "INSERT INTO sources (source_id, last_sync_at, last_run_id, last_generation) "
            "VALUES ('handbook', ?, 'run-1', 'g-7')",
            (to_iso(T0),),
        )
        conn.execute(
            f"INSERT INTO chunks ({CHUNK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            chunk_row(ChunkRecord("c2", "d2", "handbook", 0, "Band B3: 80-95k", "th", 120, 135)),
        )
        # a staged (uncommitted) document and chunk of a run in flight: never visible to the read side
        conn.execute(
            f"INSERT INTO plan_chunks ({CHUNK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            chunk_row(ChunkRecord("c-staged", "t1", "tickets", 0, "staged", "th", 0, 6)),
        )
        conn.execute(
            "INSERT INTO plan_documents (source_id, document_id, action, locator, uri, acl, observed_at, "
            "content_hash, fingerprint, validators, status) "
            "VALUES ('tickets', 't1', 'add', 't1', 't1', '[]', ?, 'h', '', '{}', 'pending')",
            (to_iso(T0),),
        )
    return tmp_path


def test_reads_what_the_writer_committed_per_source(data_dir: Path) -> None:
    reader = ManifestReader.for_data_dir(data_dir)
    assert reader.path == manifest_path(data_dir) == data_dir / "pipeline" / "manifest.sqlite3"
    sources = reader.sources()
    assert set(sources) == {"handbook", "finance"}  # the staged ticket is not committed

    handbook = sources["handbook"]
    assert handbook.document_count == 2
    assert handbook.documents[0] == ManifestDocument("d1", "handbook", ("public",), T0)
    assert handbook.last_indexed_at == T0
    assert (handbook.last_run_id, handbook.last_generation) == ("run-1", "g-7")
    assert handbook.failures == ()

    finance = sources["finance"]
    assert finance.document_count == 1
    assert finance.last_indexed_at is None  # documents but no committed sync row
    [failure] = finance.failures
    assert (failure.locator, failure.stage, failure.reason, failure.acl) == (
        "scan.pdf",
        "parse",
        "no text",
        ("group:finance",),
    )
    assert failure.last_seen == T0 + timedelta(days=1)


def test_looks_up_committed_chunks_and_acls(data_dir: Path) -> None:
    reader = ManifestReader.for_data_dir(data_dir)
    try:
        assert reader.chunk("c2") == ManifestChunk(
            "c2", "d2", "Band B3: 80-95k", ChunkSpan(start=120, end=135), ("group:hr",)
        )
        assert reader.document_acl("d3") == ("group:finance",)
        # staged rows, failures and unknown ids are not committed documents or chunks
        assert reader.chunk("c-staged") is None
        assert reader.chunk("nope") is None
        assert reader.document_acl("t1") is None
        assert reader.document_acl("f1") is None

        # the open lookup connection sees a later commit (an ACL change) without reopening
        with Manifest.for_data_dir(data_dir) as manifest, manifest.transaction() as conn:
            conn.execute(
                "UPDATE documents SET acl = ? WHERE document_id = 'd2'", (json.dumps(["group:leads"]),)
            )
        assert reader.document_acl("d2") == ("group:leads",)
        chunk = reader.chunk("c2")
        assert chunk is not None
        assert chunk.acl == ("group:leads",)
    finally:
        reader.close()
    reader.close()  # closing twice is harmless
    assert reader.document_acl("d1") == ("public",)  # a lookup after close reopens
    reader.close()


def test_the_reader_never_writes(data_dir: Path, tmp_path: Path) -> None:
    missing = ManifestReader(tmp_path / "nowhere" / "manifest.sqlite3")
    assert missing.sources() == {}
    assert not missing.path.exists()  # reading a missing manifest does not create one
    reader = ManifestReader.for_data_dir(data_dir)
    with reader._connect() as conn, pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM documents")


def test_writer_tables_are_the_shared_schema(data_dir: Path) -> None:
    """The pipeline creates exactly the committed tables the reader's schema defines."""
    expected = sqlite3.connect(":memory:")
    expected.executescript(COMMITTED_SCHEMA)
    actual = sqlite3.connect(manifest_path(data_dir))
    for table in COMMITTED_TABLES:
        columns = f"PRAGMA table_info({table})"
        assert actual.execute(columns).fetchall() == expected.execute(columns).fetchall(), table


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def test_read_side_layers_do_not_import_pipelines() -> None:
    """Below pipelines nothing imports it; api/ only from the CLI's commands (the composition
    root, inside functions): the API reads the manifest through index.manifest_reader."""
    offenders = []
    for package in ("api", "agent", "retrieval", "index", "core"):
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            nodes = tree.body if package == "api" else list(ast.walk(tree))
            offenders += [
                f"{path.relative_to(REPO)}: {name}"
                for node in nodes
                for name in _imported(node)
                if name.split(".")[0] == "pipelines"
            ]
    assert offenders == []
