"""Vector store throughput, ACL-filtered latency, filtered recall, memory and disk.

Synthetic corpus: 384-d low-rank vectors (rank 48 + noise, like sentence embeddings), each
chunk readable by one of 13 groups, so one user's ACL filter selects ~7.7% of the corpus (the
design's restrictive case). Queries are perturbed corpus vectors. Recall@10 is measured against
exact numpy search of the same filtered set, because a filtered HNSW search can lose recall
without looking wrong (design note: 0.28 at 8% with Edge's defaults).

Each backend runs in its own child process, so RSS is that backend's alone.

    uv run python bench/bench_vectors.py              # Edge 100k (tuned + defaults), qdrant-client 10k
    uv run python bench/bench_vectors.py --n 20000 --queries 100
    uv run python bench/bench_vectors.py --only edge  # one backend, JSON on stdout

qdrant-client's local mode (``:memory:``) is brute force in Python: ~2.5 s a query and ~80
points/s at 100k in the design's measurement, so it runs at ``--qdrant-n`` (10k by default);
it is the test double of the server path, never the embedded default.
Not a test: it prints a table (and takes minutes on a small machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.acl import Principal
from core.models import Chunk, ChunkSpan
from index.types import SearchFilter, VectorStore

GROUPS = 13  # one group reads ~7.7%: above Qdrant's default full-scan threshold at 100k x 384-d
DIM = 384
RANK = 48
K = 10
Matrix = npt.NDArray[np.float32]


def corpus(n: int, seed: int = 0) -> tuple[list[Chunk], Matrix, npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((RANK, DIM)).astype(np.float32)
    vectors = rng.standard_normal((n, RANK)).astype(np.float32) @ basis
    vectors += 0.3 * rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    groups = rng.integers(0, GROUPS, n)
    when = datetime(2024, 1, 1, tzinfo=UTC)
    chunks = [
        Chunk(
            id=str(uuid.UUID(int=i + 1)),
            document_id=str(uuid.UUID(int=(i // 4) + 1)),
            source_id=f"src-{i % 3}",
            text=f"synthetic chunk {i}",
            span=ChunkSpan(start=0, end=18),
            title=f"doc {i // 4}",
            uri=f"bench://{i // 4}",
            acl=(f"group:g{groups[i]}",),
            updated_at=when,
            ordinal=i % 4,
        )
        for i in range(n)
    ]
    return chunks, vectors, groups


def queries(vectors: Matrix, count: int, seed: int = 1) -> Matrix:
    rng = np.random.default_rng(seed)
    picks = vectors[rng.integers(0, len(vectors), count)]
    q = picks + 0.5 * rng.standard_normal(picks.shape).astype(np.float32) / np.sqrt(DIM)
    return np.asarray(q / np.linalg.norm(q, axis=1, keepdims=True), dtype=np.float32)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


def measure(
    store: VectorStore, chunks: list[Chunk], vectors: Matrix, groups: npt.NDArray[np.int64], qs: Matrix
) -> dict[str, Any]:
    ids = np.array([c.id for c in chunks])
    latencies: list[float] = []
    cpu: list[float] = []
    recalls: list[float] = []
    shares: list[float] = []
    broad: list[float] = []
    for i, q in enumerate(qs):
        g = i % GROUPS
        flt = SearchFilter.for_principal(Principal(user_id=f"u{i}", groups=(f"g{g}",)))
        start, start_cpu = time.perf_counter(), time.process_time()
        hits = store.search(q, flt, K)
        latencies.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)  # all threads: the search's own cost
        mask = groups == g
        shares.append(float(mask.mean()))
        exact = set(ids[np.argsort(-np.where(mask, vectors @ q, -np.inf))[:K]])
        recalls.append(len(exact & {h.chunk.id for h in hits}) / K)
        # a broad filter (4 groups, ~30%) goes through the HNSW graph rather than a full scan
        wide = [(g + j) % GROUPS for j in range(4)]
        hits = store.search(
            q, SearchFilter.for_principal(Principal(user_id="w", groups=tuple(f"g{x}" for x in wide))), K
        )
        exact = set(ids[np.argsort(-np.where(np.isin(groups, wide), vectors @ q, -np.inf))[:K]])
        broad.append(len(exact & {h.chunk.id for h in hits}) / K)
    return {
        "recall_broad": float(np.mean(broad)),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
        "cpu_p95_ms": float(np.percentile(cpu, 95)),
        "recall_at_10": float(np.mean(recalls)),
        "min_recall": float(np.min(recalls)),
        "selectivity": float(np.mean(shares)),
    }


def run_edge(n: int, nq: int, tuning_name: str) -> dict[str, Any]:
    from index.vectors_edge import EdgeSearchTuning, EdgeVectorStore

    tuning = (
        EdgeSearchTuning()
        if tuning_name == "tuned"
        # Qdrant's defaults: full_scan_threshold 10,000 KB, ef_construct 100, hnsw_ef = ef_construct
        else EdgeSearchTuning(m=16, ef_construct=100, full_scan_threshold_kb=10_000, hnsw_ef=None)
    )
    chunks, vectors, groups = corpus(n)
    qs = queries(vectors, nq)
    base = rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        path = Path(tmp) / "vectors"
        store = EdgeVectorStore(path, model_id="bench", dimension=DIM, tuning=tuning)
        start, start_cpu = time.perf_counter(), time.process_time()
        store.upsert(chunks, vectors)
        store.flush()
        upsert_s, upsert_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        start = time.perf_counter()
        store.optimize()
        optimize_s = time.perf_counter() - start
        store.search(qs[0], SearchFilter.for_principal(Principal(user_id="warm")), K)
        result = measure(store, chunks, vectors, groups, qs)
        result.update(
            backend=f"qdrant-edge ({tuning_name})",
            n=n,
            upsert_per_s=n / upsert_s,
            upsert_per_cpu_s=n / upsert_cpu,
            optimize_s=optimize_s,
            rss_mb=rss_mb() - base,
            disk_mb=disk_mb(path),
        )
        store.close()
    return result


def run_qdrant(n: int, nq: int) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    from index.vectors_qdrant import QdrantVectorStore, create_generation_collection

    chunks, vectors, groups = corpus(n)
    qs = queries(vectors, nq)
    base = rss_mb()
    client = QdrantClient(":memory:")
    create_generation_collection(client, "bench__g1", DIM)
    store = QdrantVectorStore(client, "bench__g1", model_id="bench", dimension=DIM)
    start, start_cpu = time.perf_counter(), time.process_time()
    store.upsert(chunks, vectors)
    upsert_s, upsert_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    result = measure(store, chunks, vectors, groups, qs)
    result.update(
        backend="qdrant-client :memory:",
        n=n,
        upsert_per_s=n / upsert_s,
        upsert_per_cpu_s=n / upsert_cpu,
        optimize_s=0.0,
        rss_mb=rss_mb() - base,
        disk_mb=0.0,
    )
    client.close()
    return result


RUNNERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "edge": lambda a: run_edge(a.n, a.queries, "tuned"),
    "edge-defaults": lambda a: run_edge(a.n, a.queries, "defaults"),
    "qdrant": lambda a: run_qdrant(a.qdrant_n, a.qdrant_queries),
}


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'backend':<26} {'chunks':>8} {'upsert/s':>9} {'/cpu-s':>7} {'optimize':>9} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'cpu p95':>8} "
        f"{'recall@10':>9} {'min':>5} {'select':>7} {'broad':>6} {'RSS MB':>7} {'disk MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['backend']:<26} {r['n']:>8,} {r['upsert_per_s']:>9,.0f} {r['upsert_per_cpu_s']:>7,.0f} "
            f"{r['optimize_s']:>8.1f}s "
            f"{r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['cpu_p50_ms']:>8.2f} {r['cpu_p95_ms']:>8.2f} "
            f"{r['recall_at_10']:>9.3f} {r['min_recall']:>5.2f} "
            f"{r['selectivity']:>6.1%} {r['recall_broad']:>6.3f} {r['rss_mb']:>7.0f} {r['disk_mb']:>8.0f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="chunks for Qdrant Edge")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--qdrant-n", type=int, default=10_000, help="chunks for qdrant-client :memory:")
    parser.add_argument("--qdrant-queries", type=int, default=50)
    parser.add_argument("--backends", default="edge,edge-defaults,qdrant")
    parser.add_argument("--only", choices=sorted(RUNNERS), help="run one backend here, print JSON")
    args = parser.parse_args()
    if args.only:
        print(json.dumps(RUNNERS[args.only](args)))
        return
    rows = []
    for name in args.backends.split(","):
        cmd = [sys.executable, __file__, "--only", name, *sys.argv[1:]]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ})
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"done: {name}", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
