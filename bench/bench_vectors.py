"""Vector store throughput, ACL-filtered latency, filtered recall, memory and disk.

Synthetic corpus: 384-d low-rank vectors (rank 48 + noise, like sentence embeddings). Each chunk
is readable by one department (13 departments, ~7.7% each) and one team (100 teams, ~1% each).
Three ACL filters, each against exact numpy search of the same filtered set, because a
filtered HNSW search can lose recall without looking wrong (design note: 0.28 at 8%):

- narrow: a user in one department (~7.7%): the design's restrictive case; latency is for this
- union:  a user in ten teams (~10%): many small ACL values, the case graph links miss
- broad:  a user in four departments (~30%)

Each backend runs in its own child process, so RSS is that backend's alone. CPU columns are
``process_time`` per search (all threads): on a shared machine wall time includes waiting.

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

DEPARTMENTS = 13  # ~7.7% each: above Qdrant's default full-scan threshold at 100k x 384-d
TEAMS = 100  # ~1% each: below it, so no extra graph links
DIM = 384
RANK = 48
K = 10
Matrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


def corpus(n: int, seed: int = 0) -> tuple[list[Chunk], Matrix, Labels, Labels]:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((RANK, DIM)).astype(np.float32)
    vectors = rng.standard_normal((n, RANK)).astype(np.float32) @ basis
    vectors += 0.3 * rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    departments = rng.integers(0, DEPARTMENTS, n)
    teams = rng.integers(0, TEAMS, n)
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
            acl=(f"group:d{departments[i]}", f"group:t{teams[i]}"),
            updated_at=when,
            ordinal=i % 4,
        )
        for i in range(n)
    ]
    return chunks, vectors, departments, teams


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


def scenarios(
    i: int, departments: Labels, teams: Labels
) -> dict[str, tuple[tuple[str, ...], npt.NDArray[np.bool_]]]:
    """The three filters of query ``i``: (the principal's groups, which chunks they may read)."""
    d = i % DEPARTMENTS
    wide = [(d + j) % DEPARTMENTS for j in range(4)]
    mine = [(i * 7 + j) % TEAMS for j in range(10)]
    return {
        "narrow": ((f"d{d}",), departments == d),
        "union": (tuple(f"t{t}" for t in mine), np.isin(teams, mine)),
        "broad": (tuple(f"d{x}" for x in wide), np.isin(departments, wide)),
    }


def measure(
    store: VectorStore, chunks: list[Chunk], vectors: Matrix, departments: Labels, teams: Labels, qs: Matrix
) -> dict[str, Any]:
    ids = np.array([c.id for c in chunks])
    # Ground truth first: numpy's BLAS threads keep spinning after a matmul and would steal the
    # CPUs the engine needs if exact search and timed searches were interleaved.
    cases = []
    for i, q in enumerate(qs):
        for name, (groups, mask) in scenarios(i, departments, teams).items():
            exact = set(ids[np.argsort(-np.where(mask, vectors @ q, -np.inf))[:K]])
            cases.append((name, q, groups, exact, float(mask.mean())))
    latencies: list[float] = []
    cpu: list[float] = []
    recalls: dict[str, list[float]] = {"narrow": [], "union": [], "broad": []}
    shares: dict[str, list[float]] = {"narrow": [], "union": [], "broad": []}
    time.sleep(1.0)
    for i, (name, q, groups, exact, share) in enumerate(cases):
        flt = SearchFilter.for_principal(Principal(user_id=f"u{i}", groups=groups))
        start, start_cpu = time.perf_counter(), time.process_time()
        hits = store.search(q, flt, K)
        if name == "narrow":
            latencies.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)  # all threads: the search's own cost
        recalls[name].append(len(exact & {h.chunk.id for h in hits}) / K)
        shares[name].append(share)
    result: dict[str, Any] = {
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
        "cpu_p95_ms": float(np.percentile(cpu, 95)),
    }
    for name in recalls:
        result[f"recall_{name}"] = float(np.mean(recalls[name]))
        result[f"min_{name}"] = float(np.min(recalls[name]))
        result[f"share_{name}"] = float(np.mean(shares[name]))
    return result


def run_edge(n: int, nq: int, tuning_name: str) -> dict[str, Any]:
    from index.vectors_edge import EdgeSearchTuning, EdgeVectorStore

    tuning = (
        EdgeSearchTuning()
        if tuning_name == "tuned"
        # Qdrant's defaults: full_scan_threshold 10,000 KB, ef_construct 100, hnsw_ef = ef_construct
        else EdgeSearchTuning(
            m=16,
            ef_construct=100,
            full_scan_threshold_kb=10_000,
            exact_max_points=0,
            hnsw_ef=None,
            acorn=False,
        )
    )
    chunks, vectors, departments, teams = corpus(n)
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
        store.close()  # the API searches a generation the pipeline built and closed: measure that
        store = EdgeVectorStore(path, model_id="bench", dimension=DIM, writable=False, tuning=tuning)
        store.search(qs[0], SearchFilter.for_principal(Principal(user_id="warm")), K)
        result = measure(store, chunks, vectors, departments, teams, qs)
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

    chunks, vectors, departments, teams = corpus(n)
    qs = queries(vectors, nq)
    base = rss_mb()
    client = QdrantClient(":memory:")
    create_generation_collection(client, "bench__g1", DIM)
    store = QdrantVectorStore(client, "bench__g1", model_id="bench", dimension=DIM)
    start, start_cpu = time.perf_counter(), time.process_time()
    store.upsert(chunks, vectors)
    upsert_s, upsert_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    result = measure(store, chunks, vectors, departments, teams, qs)
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
    first = rows[0]
    share = "/".join(f"{first[f'share_{k}']:.1%}" for k in ("narrow", "union", "broad"))
    head = (
        f"{'backend':<24} {'chunks':>8} {'upsert/s':>9} {'/cpu-s':>7} {'optimize':>9} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'cpu p50':>7} {'cpu p95':>7} "
        f"{'R@10 narrow':>11} {'union':>11} {'broad':>11} {'RSS MB':>7} {'disk MB':>7}"
    )
    lines = [f"filters select {share} (narrow/union/broad); recall as mean (min)", head, "-" * len(head)]
    for r in rows:
        recall = " ".join(
            f"{r[f'recall_{k}']:>5.3f} ({r[f'min_{k}']:.1f})" for k in ("narrow", "union", "broad")
        )
        lines.append(
            f"{r['backend']:<24} {r['n']:>8,} {r['upsert_per_s']:>9,.0f} {r['upsert_per_cpu_s']:>7,.0f} "
            f"{r['optimize_s']:>8.0f}s {r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} "
            f"{r['cpu_p50_ms']:>7.2f} {r['cpu_p95_ms']:>7.2f} {recall} "
            f"{r['rss_mb']:>7.0f} {r['disk_mb']:>7.0f}"
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
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"done: {name}", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
