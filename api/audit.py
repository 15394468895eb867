"""The audit log: who asked what and when, what was cited, refused or not, how long it took.

Written through a DB-API 2.0 seam (a connection factory and its ``paramstyle``), so SQLite
(the embedded default, ``<data_dir>/app/audit.sqlite3``) and PostgreSQL (``api.audit_db_url =
postgresql://...``, needs a DB-API driver such as psycopg installed) share one code path and
one portable schema. With ``api.store_questions = false`` only the SHA-256 of the question is
kept, so the log can prove what was asked without holding the text.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from core.errors import ConfigurationError
from core.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    trace_id          VARCHAR(64) NOT NULL,
    at                VARCHAR(40) NOT NULL,
    user_id           VARCHAR(200) NOT NULL,
    endpoint          VARCHAR(40) NOT NULL,
    question          TEXT,
    question_sha256   VARCHAR(64) NOT NULL,
    cited_chunk_ids   TEXT NOT NULL,
    refused           INTEGER NOT NULL,
    degraded          INTEGER NOT NULL,
    status            INTEGER NOT NULL,
    latency_ms        REAL NOT NULL
)
"""
_COLUMNS = (
    "trace_id",
    "at",
    "user_id",
    "endpoint",
    "question",
    "question_sha256",
    "cited_chunk_ids",
    "refused",
    "degraded",
    "status",
    "latency_ms",
)


class DBAPIConnection(Protocol):
    """The part of a DB-API 2.0 connection the audit log uses."""

    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class AuditRecord:
    trace_id: str
    at: datetime
    user_id: str
    endpoint: str
    question: str | None
    question_sha256: str
    cited_chunk_ids: tuple[str, ...]
    refused: bool
    degraded: bool
    status: int
    latency_ms: float


class AuditLog:
    """Appends audit records; one connection, serialized by a lock (writes are tiny)."""

    def __init__(
        self,
        connect: Callable[[], DBAPIConnection],
        *,
        paramstyle: Literal["qmark", "format"] = "qmark",
        store_questions: bool = True,
    ) -> None:
        self._conn = connect()
        self._mark = "?" if paramstyle == "qmark" else "%s"
        self.store_questions = store_questions
        self._lock = threading.Lock()
        with self._lock:
            cur = self._conn.cursor()
            cur.execute(_SCHEMA)
            self._conn.commit()

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditLog:
        url = settings.api.audit_db_url
        store = settings.api.store_questions
        if url is None:
            return cls.sqlite(
                Path(settings.backend.data_dir) / "app" / "audit.sqlite3", store_questions=store
            )
        if url.startswith("sqlite:///"):
            return cls.sqlite(Path(url.removeprefix("sqlite:///")), store_questions=store)
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg  # type: ignore[import-not-found, unused-ignore]
            except ImportError:
                raise ConfigurationError(
                    "api.audit_db_url is a PostgreSQL URL but no driver is installed: "
                    "install psycopg (uv add 'psycopg[binary]') or use a sqlite:/// URL"
                ) from None
            return cls(lambda: psycopg.connect(url), paramstyle="format", store_questions=store)
        raise ConfigurationError(
            f"api.audit_db_url {url!r}: use sqlite:///path/to/file.sqlite3 or postgresql://user@host/db"
        )

    @classmethod
    def sqlite(cls, path: Path, *, store_questions: bool = True) -> AuditLog:
        path.parent.mkdir(parents=True, exist_ok=True)

        def connect() -> DBAPIConnection:
            conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        return cls(connect, store_questions=store_questions)

    def record(
        self,
        *,
        trace_id: str,
        user_id: str,
        endpoint: str,
        question: str,
        cited_chunk_ids: Sequence[str] = (),
        refused: bool = False,
        degraded: bool = False,
        status: int = 200,
        latency_ms: float = 0.0,
    ) -> AuditRecord:
        rec = AuditRecord(
            trace_id=trace_id,
            at=datetime.now(UTC),
            user_id=user_id,
            endpoint=endpoint,
            question=question if self.store_questions else None,
            question_sha256=hashlib.sha256(question.encode("utf-8")).hexdigest(),
            cited_chunk_ids=tuple(cited_chunk_ids),
            refused=refused,
            degraded=degraded,
            status=status,
            latency_ms=round(latency_ms, 3),
        )
        row = (
            rec.trace_id,
            rec.at.isoformat(),
            rec.user_id,
            rec.endpoint,
            rec.question,
            rec.question_sha256,
            json.dumps(list(rec.cited_chunk_ids)),
            int(rec.refused),
            int(rec.degraded),
            rec.status,
            rec.latency_ms,
        )
        marks = ", ".join([self._mark] * len(_COLUMNS))
        with self._lock:
            cur = self._conn.cursor()
            cur.execute(f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) VALUES ({marks})", row)
            self._conn.commit()
        return rec

    def recent(self, limit: int = 100) -> list[AuditRecord]:
        """The newest records first (for tests and operators)."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit_log ORDER BY at DESC LIMIT {int(limit)}")
            rows = cur.fetchall()
        return [
            AuditRecord(
                trace_id=r[0],
                at=datetime.fromisoformat(r[1]),
                user_id=r[2],
                endpoint=r[3],
                question=r[4],
                question_sha256=r[5],
                cited_chunk_ids=tuple(json.loads(r[6])),
                refused=bool(r[7]),
                degraded=bool(r[8]),
                status=int(r[9]),
                latency_ms=float(r[10]),
            )
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
