"""The audit log through its DB-API seam (SQLite here), with question redaction."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from api.audit import AuditLog
from core.errors import ConfigurationError
from core.settings import Settings


def test_records_who_what_cited_refused_latency(tmp_path: Path) -> None:
    log = AuditLog.sqlite(tmp_path / "audit.sqlite3")
    log.record(
        trace_id="t1",
        user_id="alice",
        endpoint="ask",
        question="How do deploys work?",
        cited_chunk_ids=("c1", "c2"),
        refused=False,
        latency_ms=12.5,
    )
    log.record(trace_id="t2", user_id="bob", endpoint="ask", question="Budget?", refused=True, status=200)
    records = {r.trace_id: r for r in log.recent()}
    assert records["t1"].user_id == "alice"
    assert records["t1"].question == "How do deploys work?"
    assert records["t1"].cited_chunk_ids == ("c1", "c2")
    assert records["t1"].latency_ms == 12.5
    assert records["t2"].refused
    log.close()


def test_questions_can_be_kept_as_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    log = AuditLog.sqlite(path, store_questions=False)
    log.record(trace_id="t", user_id="carol", endpoint="ask", question="Who is affected by the reorg?")
    log.close()
    row = sqlite3.connect(path).execute("SELECT question, question_sha256 FROM audit_log").fetchone()
    assert row[0] is None
    assert row[1] == hashlib.sha256(b"Who is affected by the reorg?").hexdigest()


def test_settings_choose_the_database(tmp_path: Path) -> None:
    default = AuditLog.from_settings(Settings(backend={"data_dir": tmp_path}))
    default.close()
    assert (tmp_path / "app" / "audit.sqlite3").is_file()
    explicit = AuditLog.from_settings(
        Settings(backend={"data_dir": tmp_path}, api={"audit_db_url": f"sqlite:///{tmp_path / 'x.db'}"})
    )
    explicit.close()
    assert (tmp_path / "x.db").is_file()
    with pytest.raises(ConfigurationError, match="sqlite:///"):
        AuditLog.from_settings(Settings(api={"audit_db_url": "mysql://nope"}))
