"""Kill the OpenSearch node under a running API: degraded answers, no 5xx; restart: normal.

This test starts its *own* throwaway node with ``scripts/opensearch.sh`` (its own state
directory and port), never the shared one the other tests use, and stops it at the end.
It needs what the shared node needs (Java, the cached server), so it runs where
``GW_TEST_OPENSEARCH_URL`` is set and skips elsewhere, like the other OpenSearch tests.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from qdrant_client import QdrantClient

from api.app import create_app
from api.backends import Backends
from core.embedding import Embedder
from index.keywords_opensearch import OpenSearchKeywordStore, opensearch_client
from index.types import VectorStore
from index.vectors_qdrant import QdrantVectorStore
from tests.integration.api_support import (
    REPO,
    Server,
    assert_no_leak,
    build_keyword_generation,
    build_server_index,
    check_user,
    free_port,
    serve_in_thread,
    write_users_file,
)
from tests.integration.test_api_server_mode import server_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class ThrowawayNode:
    """One OpenSearch node of this test's own, driven by scripts/opensearch.sh."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.env = {
            **os.environ,
            "GW_OPENSEARCH_STATE_DIR": str(state_dir),
            "GW_OPENSEARCH_PORT": str(port),
            "GW_OPENSEARCH_HEAP": "384m",
            "GW_OPENSEARCH_START_TIMEOUT": "240",
        }
        self.url = f"http://127.0.0.1:{port}"

    def _script(self, command: str) -> str:
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "opensearch.sh"), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"opensearch.sh {command} failed:\n{done.stderr[-3000:]}")
        return done.stdout.strip()

    def start(self) -> None:
        # After a stop the port lingers in TIME_WAIT (up to a minute): wait for it, same URL.
        deadline = time.monotonic() + 120
        while True:
            try:
                assert self._script("start").endswith(self.url)
                return
            except RuntimeError as exc:
                if "is taken" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(5)

    def stop(self) -> None:
        self._script("stop")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, opensearch_url: str) -> Iterator[ThrowawayNode]:
    del opensearch_url  # only a gate: where a node can run at all
    node = ThrowawayNode(tmp_path_factory.mktemp("own-opensearch"), free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_keyword_engine_down_degrades_then_recovers(
    node: ThrowawayNode, embedder: Embedder, tmp_path: Path
) -> None:
    index = f"gwdeg-{uuid.uuid4().hex[:8]}"
    qdrant = QdrantClient(":memory:")
    admin = opensearch_client(node.url, timeout_s=60.0)  # building may be slow on a fresh node
    opensearch = opensearch_client(node.url, timeout_s=3.0)  # the API's: a dead node fails fast
    chunks = build_server_index(qdrant, admin, index, embedder)
    backends = Backends(
        vectors=cast(
            VectorStore,
            QdrantVectorStore(qdrant, index, model_id=embedder.model_id, dimension=embedder.dimension),
        ),
        keywords=OpenSearchKeywordStore(opensearch, index),
    )
    users = write_users_file(tmp_path / "users.yaml")
    settings = server_settings(tmp_path, index, node.url, users, timeout_s=3.0)
    question = {"question": "How many approvals does a production deploy need?"}
    with serve_in_thread(create_app(settings, embedder=embedder, backends=backends)) as url:
        server = Server(url, tmp_path, chunks)
        with server.client("alice") as alice:
            healthy = alice.post("/v1/ask", json=question).json()
            assert healthy["degraded"] is False
            assert not healthy["refused"]

            node.stop()  # the keyword engine dies under the running API
            degraded = alice.post("/v1/ask", json=question)
            assert degraded.status_code == 200
            body = degraded.json()
            assert body["degraded"] is True
            assert not body["refused"]
            assert "two reviewers" in body["answer"]
            assert any("unavailable" in w for w in body["warnings"])
            found = alice.post("/v1/search", json={"query": "deploy approvals"}).json()
            assert found["degraded"] is True
            assert found["unavailable"] == ["bm25"]
            assert alice.get(body["citations"][0]["chunk_url"]).status_code == 200
            ready = alice.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert ready.json()["backends"]["keywords"]["state"] == "down"
            stream = alice.post("/v1/ask", json=question, headers={"Accept": "text/event-stream"})
            assert stream.status_code == 200
            assert '"degraded":true' in stream.text
        for user in ("alice", "bob", "dave"):  # still ACL-filtered, in JSON and SSE, with no 5xx
            check_user(server, user, expect_degraded=True)

        node.start()  # a fresh node comes back empty; the pipeline would re-index it
        build_keyword_generation(admin, index, embedder, chunks)
        with server.client("alice") as alice:
            recovered = alice.post("/v1/ask", json=question).json()
            assert recovered["degraded"] is False
            assert not recovered["refused"]
            assert alice.get("/readyz").json()["status"] == "ready"
    qdrant.close()
    opensearch.close()
    admin.close()


def test_both_engines_down_is_a_clear_503(embedder: Embedder, tmp_path: Path) -> None:
    """Needs no engine at all: both URLs point at ports nothing listens on."""
    dead = f"http://127.0.0.1:{free_port()}"
    users = write_users_file(tmp_path / "users.yaml")
    settings = server_settings(tmp_path, "gwdead", dead, users, qdrant_url=dead, timeout_s=1.0)
    with serve_in_thread(create_app(settings, embedder=embedder)) as url:
        server = Server(url, tmp_path, [])
        with server.client("alice") as alice:
            for method, path, payload in (
                ("POST", "/v1/ask", {"question": "How do deploys work?"}),
                ("POST", "/v1/search", {"query": "deploys"}),
                ("GET", f"/v1/chunks/{uuid.uuid4()}", None),
                ("GET", f"/v1/documents/{uuid.uuid4()}", None),
            ):
                r = alice.request(method, path, json=payload)
                assert r.status_code == 503, (path, r.text)
                assert "unavailable" in r.json()["detail"] or "failed" in r.json()["detail"]
                assert r.headers["retry-after"]
                assert_no_leak("alice", server, r)
            stream = alice.post(
                "/v1/ask", json={"question": "deploys?"}, headers={"Accept": "text/event-stream"}
            )
            assert stream.status_code == 503
            ready = httpx.get(f"{url}/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
