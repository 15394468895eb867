"""The API in server mode: Qdrant (qdrant-client ``:memory:``) and a real OpenSearch node.

The same per-user leak matrix as the embedded test, in JSON and SSE, plus the citation
endpoints and the 404 equivalence, against the server engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import cast

import pytest
from qdrant_client import QdrantClient

from api.app import create_app
from api.backends import Backends
from core.embedding import Embedder
from core.settings import Settings
from index.keywords_opensearch import OpenSearchKeywordStore, opensearch_client
from index.types import VectorStore
from index.vectors_qdrant import QdrantVectorStore
from tests.integration.api_support import (
    DOCS,
    USERS,
    Server,
    build_server_index,
    check_user,
    documents,
    serve_in_thread,
    write_users_file,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def server_settings(
    data_dir: object, index: str, opensearch_url: str, users: object, **backend: object
) -> Settings:
    return Settings(
        backend={
            "mode": "server",
            "data_dir": data_dir,
            "index_name": index,
            "qdrant_url": ":memory:",
            "opensearch_url": opensearch_url,
            **backend,
        },
        api={"users_file": users, "rate_limit_per_minute": 10_000},
        pipeline={
            "sources": [
                {"kind": "folder", "id": s, "path": str(data_dir), "max_age": "P365D"}
                for s in ("handbook", "engineering", "finance", "hr")
            ]
        },
    )


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, opensearch_url: str
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("api-server-mode")
    index = f"gwapi-{uuid.uuid4().hex[:8]}"
    qdrant = QdrantClient(":memory:")
    opensearch = opensearch_client(opensearch_url)
    chunks = build_server_index(qdrant, opensearch, index, embedder)
    backends = Backends(
        vectors=cast(
            VectorStore,
            QdrantVectorStore(qdrant, index, model_id=embedder.model_id, dimension=embedder.dimension),
        ),
        keywords=OpenSearchKeywordStore(opensearch, index),
    )
    settings = server_settings(data_dir, index, opensearch_url, write_users_file(data_dir / "users.yaml"))
    try:
        with serve_in_thread(create_app(settings, embedder=embedder, backends=backends)) as url:
            yield Server(url, data_dir, chunks)
    finally:
        opensearch.indices.delete(index=f"{index}__*", params={"ignore_unavailable": "true"})
        qdrant.close()
        opensearch.close()


@pytest.mark.parametrize("user", sorted(USERS))
def test_each_user_sees_only_what_they_may_read_on_server_engines(server: Server, user: str) -> None:
    check_user(server, user)


def test_citations_and_404_equivalence_on_server_engines(server: Server) -> None:
    falcon = next(
        doc for d, doc in zip(DOCS, documents(), strict=True) if d.locator.endswith("project-falcon.md")
    )
    chunk = next(c for c in server.chunks if c.document_id == falcon.id)
    with server.client("erin") as erin, server.client("alice") as alice:  # erin: user:erin on the ACL
        shown = erin.get(f"/v1/chunks/{chunk.id}")
        assert shown.status_code == 200
        assert shown.json()["text"] == chunk.text
        doc = erin.get(f"/v1/documents/{falcon.id}").json()
        assert doc["text"][chunk.span.start : chunk.span.end] == chunk.text
        for forbidden, missing in (
            (f"/v1/chunks/{chunk.id}", f"/v1/chunks/{uuid.uuid4()}"),
            (f"/v1/documents/{falcon.id}", f"/v1/documents/{uuid.uuid4()}"),
        ):
            a, b = alice.get(forbidden), alice.get(missing)
            assert a.status_code == b.status_code == 404
            assert a.content == b.content
            drop = ("date", "x-trace-id")
            assert {k: v for k, v in a.headers.items() if k not in drop} == {
                k: v for k, v in b.headers.items() if k not in drop
            }
