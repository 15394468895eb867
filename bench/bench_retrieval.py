"""Search latency at scale: hybrid search over 100k chunks with an ACL filter, embedded engines.

    uv run python bench/bench_retrieval.py                  # 100k chunks, 200 queries
    uv run python bench/bench_retrieval.py --chunks 20000 --queries 50 --json

Chunks are synthetic (Zipf-distributed words, random unit vectors: what matters for latency is
the engines' work, not the meaning), ACLs spread over 12 groups so the principal's filter
selects ~8% of the corpus. Each timed search is the whole path a user pays for: embedding the
query with the real MiniLM, BM25 and dense search in parallel with the ACL pushed into both
engines, fusion, optional reranking, freshness, shaping. Reported: p50/p95/max in ms, without
and with the default reranker (``RetrievalSettings().reranker``; skipped when it is ``none``).
Target: p95 <= 30 ms without reranking.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from core.acl import Principal
from core.embedding import Embedder
from core.models import Chunk, Document
from core.settings import EmbeddingSettings, RetrievalSettings
from index.keywords_tantivy import TantivyKeywordStore
from index.types import SearchFilter
from index.vectors_edge import EdgeVectorStore
from retrieval.hybrid import HybridRetriever
from retrieval.rerankers import build_reranker

GROUPS = [f"team{i:02d}" for i in range(12)]


def synthetic_chunks(n: int, rng: random.Random) -> list[Chunk]:
    vocab = [f"w{i}" for i in range(20_000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    chunks: list[Chunk] = []
    for i in range(n):
        words = rng.choices(vocab, weights=weights, k=rng.randint(40, 120))
        text = " ".join(words)
        doc = Document.create(
            source_id="bench",
            locator=f"doc{i // 4}",
            title=f"document {i // 4}",
            uri=f"bench://{i // 4}",
            updated_at=start + timedelta(hours=i % 5000),
            acl=[f"group:{GROUPS[(i // 4) % len(GROUPS)]}"],
            text=text,
        )
        chunks.append(Chunk.from_document(doc, 0, len(text), ordinal=i % 4))
    return chunks


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "max_ms": round(float(a.max()), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--reranker", help="also time this reranker spec (default: the settings' default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rng = random.Random(42)
    embedder = Embedder(EmbeddingSettings())
    dim = embedder.dimension
    root = Path(tempfile.mkdtemp(prefix="gw-bench-retrieval-"))
    out: dict[str, object] = {
        "chunks": args.chunks,
        "queries": args.queries,
        "acl_selectivity": 1 / len(GROUPS),
    }
    try:
        t0 = time.perf_counter()
        chunks = synthetic_chunks(args.chunks, rng)
        vecs = np.random.default_rng(42).standard_normal((args.chunks, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        vectors = EdgeVectorStore(root / "vectors", model_id=embedder.model_id, dimension=dim)
        keywords = TantivyKeywordStore(root / "keywords", writer_heap_bytes=256_000_000)
        for i in range(0, args.chunks, 10_000):
            vectors.upsert(chunks[i : i + 10_000], vecs[i : i + 10_000])
            keywords.upsert(chunks[i : i + 10_000])
        vectors.optimize()
        out["build_s"] = round(time.perf_counter() - t0, 1)
        print(f"built {args.chunks} chunks in {out['build_s']}s", file=sys.stderr)
        principal = Principal(user_id="bench", groups=(GROUPS[3],))
        flt = SearchFilter.for_principal(principal)
        vocab_queries = [
            " ".join(rng.choices([c.text.split()[5] for c in chunks[:2000]], k=6))
            for _ in range(args.queries + args.warmup)
        ]
        settings = RetrievalSettings()
        variants: list[tuple[str, object]] = [("no reranker", None)]
        default_reranker = build_reranker(args.reranker or settings.reranker, embedder)
        if default_reranker is not None:
            variants.append((f"default reranker ({default_reranker.name})", default_reranker))
        results: dict[str, object] = {}
        for label, reranker in variants:
            retriever = HybridRetriever(
                vectors=vectors,
                keywords=keywords,
                embedder=embedder,
                settings=settings,
                reranker=reranker,  # type: ignore[arg-type]
            )
            times: list[float] = []
            for i, q in enumerate(vocab_queries):
                t = time.perf_counter()
                response = retriever.search(q, flt)
                elapsed = (time.perf_counter() - t) * 1000
                assert all(principal.may_read(r.chunk.acl) for r in response.results)
                if i >= args.warmup:
                    times.append(elapsed)
            retriever.close()
            results[label] = percentiles(times)
            print(f"{label}: {results[label]}", file=sys.stderr)
        out["search"] = results
        keywords.close()
        vectors.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
