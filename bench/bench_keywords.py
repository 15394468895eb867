"""Keyword store benchmark: upsert throughput and ACL-filtered query latency at 100k chunks.

Chunks are real text: windows of 2-4 consecutive sentences of SciFact abstracts, repeated with
small variations (a few words dropped) until there are ``--chunks`` of them. Each document's
ACL is one of 16 groups, so the benchmark principal (one group, no ``public``) may read ~6% of
the chunks: the filter is selective, as for a team's private space. Queries are SciFact's 300
test claims, each searched with ``limit=10`` as that principal.

    uv run python bench/bench_keywords.py                       # tantivy only
    uv run python bench/bench_keywords.py --opensearch-url http://127.0.0.1:9200

Prints a table; the figures in docs/benchmarks.md ("Keyword stores") come from it. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from bm25_quality import load_beir

from core.acl import Principal
from core.models import Chunk, ChunkSpan
from index.types import KeywordStore, SearchFilter

GROUPS = 16
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


@dataclass
class Figures:
    backend: str
    chunks: int
    upsert_per_s: float
    upsert_per_cpu_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_p50_ms: float
    cpu_p95_ms: float
    broad_p95_ms: float
    hits_per_query: float
    rss_mb: float
    disk_mb: float


def make_chunks(n: int, seed: int = 1) -> list[Chunk]:
    """``n`` chunks of real SciFact text with ACLs spread over GROUPS groups."""
    rng = random.Random(seed)
    data = load_beir("scifact", "test")
    docs = [(doc_id, title, _SENTENCE.split(text)) for doc_id, (title, text) in data.corpus.items()]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    chunks: list[Chunk] = []
    replica = 0
    while len(chunks) < n:
        for doc_id, title, sentences in docs:
            document_id = f"{doc_id}-r{replica}"
            acl = (f"group:g{rng.randrange(GROUPS)}",)
            start = 0
            ordinal = 0
            while start < len(sentences) and len(chunks) < n:
                size = rng.randint(2, 4)
                words = " ".join(sentences[start : start + size]).split()
                if replica:  # variation: drop ~8% of the words
                    words = [w for w in words if rng.random() > 0.08]
                text = " ".join(words)
                chunks.append(
                    Chunk(
                        id=f"{document_id}-{ordinal}",
                        document_id=document_id,
                        source_id=f"s{replica % 4}",
                        text=text,
                        span=ChunkSpan(start=0, end=len(text)),
                        title=title,
                        acl=acl,
                        updated_at=base + timedelta(minutes=len(chunks)),
                        ordinal=ordinal,
                    )
                )
                start += size
                ordinal += 1
            if len(chunks) >= n:
                break
        replica += 1
    return chunks


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(backend: str, store: KeywordStore, chunks: list[Chunk], queries: list[str], batch: int) -> Figures:
    proc = psutil.Process()
    gc.collect()
    rss_before = proc.memory_info().rss
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(chunks), batch):
        store.upsert(chunks[start : start + batch])
    upsert_s = time.perf_counter() - started
    upsert_cpu_s = time.process_time() - cpu_started
    narrow = SearchFilter.for_principal(Principal(user_id="bench", groups=("g3",)))
    broad = SearchFilter.for_principal(
        Principal(user_id="bench", groups=tuple(f"g{i}" for i in range(GROUPS)))
    )
    for q in queries[:20]:  # warm caches
        store.search(q, narrow, 10)
    latencies: list[float] = []
    cpu: list[float] = []  # this process's CPU time: the engine's work for tantivy, not for OpenSearch
    hits = 0
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        found = store.search(q, narrow, 10)
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        hits += len(found)
        assert all("group:g3" in h.chunk.acl for h in found)
    broad_lat = []
    for q in queries:
        t0 = time.perf_counter()
        store.search(q, broad, 10)
        broad_lat.append((time.perf_counter() - t0) * 1000)
    return Figures(
        backend=backend,
        chunks=store.count(),
        upsert_per_s=len(chunks) / upsert_s,
        upsert_per_cpu_s=len(chunks) / upsert_cpu_s,
        p50_ms=statistics.median(latencies),
        p95_ms=_percentile(latencies, 95),
        p99_ms=_percentile(latencies, 99),
        cpu_p50_ms=statistics.median(cpu),
        cpu_p95_ms=_percentile(cpu, 95),
        broad_p95_ms=_percentile(broad_lat, 95),
        hits_per_query=hits / len(queries),
        rss_mb=(proc.memory_info().rss - rss_before) / 2**20,
        disk_mb=0.0,
    )


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def bench_tantivy(chunks: list[Chunk], queries: list[str], batch: int) -> Figures:
    from index.keywords_tantivy import TantivyKeywordStore

    root = Path(tempfile.mkdtemp(prefix="gw-bench-kw-"))
    try:
        with TantivyKeywordStore(root / "keywords") as store:
            figures = run("tantivy", store, chunks, queries, batch)
        figures.disk_mb = _du_mb(root / "keywords")
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_opensearch(url: str, chunks: list[Chunk], queries: list[str], batch: int) -> Figures:
    from index.keywords_opensearch import OpenSearchKeywordStore, opensearch_client

    client = opensearch_client(url, timeout_s=120)
    name = f"gw-bench-kw-{uuid.uuid4().hex[:8]}"
    store = OpenSearchKeywordStore.create(client, name)
    try:
        figures = run("opensearch", store, chunks, queries, batch)
        client.indices.forcemerge(index=name, params={"max_num_segments": "1"})
        stats = client.indices.stats(index=name, metric="store")
        figures.disk_mb = stats["indices"][name]["primaries"]["store"]["size_in_bytes"] / 2**20
        jvm = client.nodes.stats(metric="jvm")["nodes"]
        figures.rss_mb = sum(n["jvm"]["mem"]["heap_used_in_bytes"] for n in jvm.values()) / 2**20
        return figures
    finally:
        store.drop_index()
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2_000, help="chunks per upsert call")
    parser.add_argument("--opensearch-url", default=None)
    parser.add_argument("--skip-tantivy", action="store_true")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    chunks = make_chunks(args.chunks)
    queries = list(load_beir("scifact", "test").queries.values())
    print(
        f"built {len(chunks)} chunks in {time.perf_counter() - t0:.1f}s; {len(queries)} queries; "
        f"cpu count {os.cpu_count()}"
    )
    results: list[Figures] = []
    if not args.skip_tantivy:
        results.append(bench_tantivy(chunks, queries, args.batch))
    if args.opensearch_url:
        results.append(bench_opensearch(args.opensearch_url, chunks, queries, args.batch))

    print(
        f"{'backend':<11} {'chunks':>7} {'upsert/s':>9} {'/cpu-s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'cpu p50':>7} {'cpu p95':>7} {'broad p95':>9} {'hits/q':>6} {'mem MB':>7} {'disk MB':>7}"
    )
    for f in results:
        print(
            f"{f.backend:<11} {f.chunks:>7} {f.upsert_per_s:>9.0f} {f.upsert_per_cpu_s:>7.0f} "
            f"{f.p50_ms:>7.2f} {f.p95_ms:>7.2f} "
            f"{f.p99_ms:>7.2f} {f.cpu_p50_ms:>7.2f} {f.cpu_p95_ms:>7.2f} {f.broad_p95_ms:>9.2f} "
            f"{f.hits_per_query:>6.1f} {f.rss_mb:>7.0f} {f.disk_mb:>7.1f}"
        )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("mem MB: tantivy = growth of this process's RSS over the run (writer, caches, readers);")
    print("opensearch = the node's JVM heap in use after the run. /cpu-s: chunks per CPU-second of")
    print("this process (all of tantivy's indexing; only the client's share for OpenSearch).")
    print("p50/p95/p99: wall ms, ACL-filtered (1 of 16 groups, ~6% of chunks), limit 10; broad: all 16.")
    print("cpu p50/p95: this process's CPU ms per query (the whole search for tantivy; client only for")
    print("OpenSearch). On a loaded machine wall time includes waiting for a CPU; CPU time does not.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
