"""How the OpenSearch store fails: dead nodes, silent nodes, and per-item bulk failures.

A real node cannot be made to answer 429 for one document and a mapping error for another on
demand, so the bulk tests talk HTTP to a scripted stand-in (a few lines of ``http.server``): the
real client, the real ``helpers.streaming_bulk``, and our retry logic, with the failures chosen
by the test. ACL and ranking behaviour is only ever tested on a real node (test_keywords_opensearch).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.acl import Principal
from core.settings import BackendSettings
from index.errors import BulkWriteError, StoreUnavailableError
from index.generations_opensearch import OpenSearchGenerationCatalog
from index.keywords_opensearch import (
    OpenSearchKeywordStore,
    client_from_settings,
    opensearch_client,
)
from index.types import SearchFilter

from .suite import make_item

# status of each chunk id at each bulk attempt (missing: 201); "sleep" delays the response
Script = Callable[[int, str], int | str]


class _Node:
    """A scripted stand-in for OpenSearch's ``_bulk`` and ``_refresh`` endpoints."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.bulk_calls: list[list[str]] = []
        self.refreshes = 0
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.path.split("?")[0].endswith("/_refresh"):
                    node.refreshes += 1
                    return self._reply(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                ids = [meta["index"]["_id"] for meta in lines[0::2]]
                attempt = len(node.bulk_calls)
                node.bulk_calls.append(ids)
                outcomes = [node.script(attempt, i) for i in ids]
                if "sleep" in outcomes:
                    time.sleep(1.0)
                items = [{"index": _item(i, o)} for i, o in zip(ids, outcomes, strict=True)]
                errors = any(o != 201 for o in outcomes)
                return self._reply(200, {"took": 1, "errors": errors, "items": items})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client timed out
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _item(chunk_id: str, outcome: int | str) -> dict[str, Any]:
    if outcome in (201, "sleep"):
        return {"_index": "kw", "_id": chunk_id, "status": 201, "result": "created"}
    kind = {429: "es_rejected_execution_exception", 503: "unavailable_shards_exception"}.get(
        int(outcome), "mapper_parsing_exception"
    )
    error = {"type": kind, "reason": f"scripted {outcome}"}
    return {"_index": "kw", "_id": chunk_id, "status": outcome, "error": error}


@pytest.fixture
def node() -> Iterator[Callable[[Script], _Node]]:
    started: list[_Node] = []

    def start(script: Script) -> _Node:
        started.append(_Node(script))
        return started[-1]

    yield start
    for n in started:
        n.close()


def _store(url: str, timeout_s: float = 5.0, **kwargs: Any) -> OpenSearchKeywordStore:
    return OpenSearchKeywordStore(
        opensearch_client(url, timeout_s=timeout_s), "kw", initial_backoff_s=0.01, **kwargs
    )


CHUNKS = [make_item(f"doc-{i}").chunk for i in range(3)]
A, B, C = (c.id for c in CHUNKS)


def test_retryable_items_are_retried_and_others_reported(node: Callable[[Script], _Node]) -> None:
    n = node(lambda attempt, cid: {(0, A): 429, (0, B): 400}.get((attempt, cid), 201))
    with pytest.raises(BulkWriteError) as caught:
        _store(n.url).upsert(CHUNKS)
    assert [(f.chunk_id, f.status) for f in caught.value.failures] == [(B, 400)]
    assert "mapper_parsing_exception" in str(caught.value)
    assert B in str(caught.value)
    assert n.bulk_calls == [[A, B, C], [A]]  # only the 429 was sent again
    assert n.refreshes == 1  # what was written is visible


def test_a_transient_rejection_heals_without_an_error(node: Callable[[Script], _Node]) -> None:
    n = node(lambda attempt, cid: 503 if attempt < 2 and cid == C else 201)
    _store(n.url).upsert(CHUNKS)
    assert n.bulk_calls == [[A, B, C], [C], [C]]


def test_retries_are_bounded(node: Callable[[Script], _Node]) -> None:
    n = node(lambda attempt, cid: 429 if cid == A else 201)
    with pytest.raises(BulkWriteError) as caught:
        _store(n.url, max_retries=2).upsert(CHUNKS)
    assert [(f.chunk_id, f.status) for f in caught.value.failures] == [(A, 429)]
    assert len(n.bulk_calls) == 3


def test_a_timed_out_bulk_request_is_retried(node: Callable[[Script], _Node]) -> None:
    n = node(lambda attempt, cid: "sleep" if attempt == 0 else 201)
    _store(n.url, timeout_s=0.3).upsert(CHUNKS)
    assert len(n.bulk_calls) == 2


FLT = SearchFilter.for_principal(Principal(user_id="u"))
DEAD = "http://127.0.0.1:1"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.search("anything", FLT, 5), id="search"),
        pytest.param(lambda s: s.upsert(CHUNKS), id="upsert"),
        pytest.param(lambda s: s.update_acl("d", ["public"]), id="update_acl"),
        pytest.param(lambda s: s.delete_documents(["d"]), id="delete"),
        pytest.param(lambda s: s.count(), id="count"),
        pytest.param(lambda s: s.chunk_ids(), id="chunk_ids"),
    ],
)
def test_a_dead_node_fails_fast_with_a_typed_error(call: Callable[[OpenSearchKeywordStore], object]) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        call(_store(DEAD, max_retries=3))
    assert time.monotonic() - started < 2.0


def test_a_dead_node_fails_the_catalog_too() -> None:
    catalog = OpenSearchGenerationCatalog(opensearch_client(DEAD), "gw")
    with pytest.raises(StoreUnavailableError):
        catalog.live()
    with pytest.raises(StoreUnavailableError):
        catalog.create("m", 4)


def test_a_silent_node_times_out_instead_of_hanging() -> None:
    """A node that accepts connections but never answers: bounded by timeout_s, not forever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = client_from_settings(BackendSettings(opensearch_url=url, timeout_s=0.5))
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="ConnectionTimeout"):
            OpenSearchKeywordStore(client, "kw").search("anything", FLT, 5)
        assert time.monotonic() - started < 3.0  # settings.backend.timeout_s bounds the wait
