"""Congruence: Qdrant Edge (embedded) and qdrant-client (server path) given the same data.

Like qdrant-client's own local-vs-remote tests: same chunks, vectors, principals and queries in
both engines. ACL outcomes must be identical (the same chunk ids reachable by each principal,
nothing unreadable ever returned); rankings must overlap at the top (both compute cosine
similarity; only approximate-search effects and float round-off may reorder near-ties).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from qdrant_client import QdrantClient

from core.acl import PUBLIC, Principal
from core.models import Chunk, ChunkSpan
from index.types import SearchFilter, VectorStore
from index.vectors_edge import EdgeVectorStore
from index.vectors_qdrant import QdrantVectorStore, create_generation_collection

N = 1000
DIM = 64
TOP = 10
ACLS = ((PUBLIC,), ("group:eng",), ("group:hr",), ("group:hr", "user:alice"), ("user:bob",), ())
PRINCIPALS = (
    Principal(user_id="alice", groups=("eng",)),
    Principal(user_id="bob", groups=("hr",)),
    Principal(user_id="carol"),
    Principal(user_id="mallory", groups=("sales",)),
)


@pytest.fixture(scope="module")
def data() -> tuple[list[Chunk], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(3)
    basis = rng.standard_normal((12, DIM))
    vectors = (rng.standard_normal((N, 12)) @ basis + 0.2 * rng.standard_normal((N, DIM))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    chunks = [
        Chunk(
            id=str(uuid.UUID(int=i + 1)),
            document_id=str(uuid.UUID(int=10**6 + i // 3)),
            source_id=f"src-{i % 4}",
            text=f"chunk {i}",
            span=ChunkSpan(start=0, end=8),
            acl=ACLS[(i // 3) % len(ACLS)],
            updated_at=start + timedelta(days=i % 365),
        )
        for i in range(N)
    ]
    queries = vectors[rng.integers(0, N, 12)] + 0.1 * rng.standard_normal((12, DIM)).astype(np.float32)
    return chunks, vectors, queries.astype(np.float32)


@pytest.fixture(scope="module")
def engines(
    data: tuple[list[Chunk], npt.NDArray[np.float32], npt.NDArray[np.float32]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, VectorStore]]:
    chunks, vectors, _ = data
    edge = EdgeVectorStore(
        Path(tmp_path_factory.mktemp("congruence")) / "vectors", model_id="m", dimension=DIM
    )
    client = QdrantClient(":memory:")
    create_generation_collection(client, "kb__g1", DIM)
    qdrant = QdrantVectorStore(client, "kb__g1", model_id="m", dimension=DIM)
    for store in (edge, qdrant):
        store.upsert(chunks, vectors)
    edge.optimize()
    yield {"qdrant-edge": edge, "qdrant": qdrant}
    edge.close()
    client.close()


def _filters() -> Iterator[SearchFilter]:
    for p in PRINCIPALS:
        yield SearchFilter.for_principal(p)
        yield SearchFilter.for_principal(p, source_ids=("src-1", "src-2"))
        yield SearchFilter.for_principal(p, updated_after=datetime(2024, 6, 1, tzinfo=UTC))


def test_same_acl_outcome(
    engines: dict[str, VectorStore],
    data: tuple[list[Chunk], npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> None:
    chunks, _, queries = data
    for flt in _filters():
        reached = {
            name: {h.chunk.id for h in store.search(queries[0], flt, N)} for name, store in engines.items()
        }
        assert reached["qdrant-edge"] == reached["qdrant"]
        expected = {
            c.id
            for c in chunks
            if flt.acl.allows(c.acl)
            and (flt.source_ids is None or c.source_id in flt.source_ids)
            and (flt.updated_after is None or c.updated_at >= flt.updated_after)
        }
        assert reached["qdrant"] == expected


def test_overlapping_top_10(
    engines: dict[str, VectorStore],
    data: tuple[list[Chunk], npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> None:
    _, _, queries = data
    overlaps: list[float] = []
    for q in queries:
        for flt in _filters():
            tops = {name: store.search(q, flt, TOP) for name, store in engines.items()}
            for hits in tops.values():
                assert all(h.chunk.acl and flt.acl.allows(h.chunk.acl) for h in hits)
            a, b = ({h.chunk.id for h in hits} for hits in tops.values())
            overlaps.append(len(a & b) / max(len(a | b), 1) if a or b else 1.0)
            scores = [[h.score for h in hits] for hits in tops.values()]
            assert np.allclose(sorted(scores[0]), sorted(scores[1]), atol=1e-3) or a != b
    mean = float(np.mean(overlaps))
    print(f"\nEdge vs qdrant-client top-{TOP} overlap (Jaccard): mean {mean:.3f}, min {min(overlaps):.2f}")
    assert mean >= 0.95
