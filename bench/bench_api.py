"""API latency: ``/v1/ask`` and ``/v1/search`` p50/p95 over real HTTP, at the demo corpus and at 100k chunks.

    uv run python bench/bench_api.py --corpus demo                 # ingests the demo corpus first
    uv run python bench/bench_api.py --corpus demo --data-dir var  # an already ingested data dir
    uv run python bench/bench_api.py --corpus scale --chunks 100000
    uv run python bench/bench_api.py --corpus scale --chunks 20000 --requests 20 --json

Every request goes through uvicorn on 127.0.0.1 (auth, rate limit, audit write, JSON), with
the extractive reasoner and embedded engines (Qdrant Edge + tantivy). Concurrency 1 and 16
(threads, one HTTP client each). Each question set is sent twice: the **cold** pass pays for
embedding the evidence sentences the agent scores (the embedding cache starts empty), the
**warm** pass finds them cached, which is the steady state for sentences already seen (and
what a pipeline that pre-embeds sentences would give for every question).

The scale index is built the way issue 6 allows: **real text, synthetic vectors**. SciFact
abstracts (``/work/shared/datasets/scifact``) replicated with 8% word dropout until there are
``--chunks`` chunks of 2-4 sentences, each a real span of its document; vectors are random
low-rank unit vectors (embedding 100k chunks takes over an hour on 2 cores). BM25 and every
cost of the path are real; dense *rankings* are meaningless but their cost is not. ACLs: one of
12 groups per document, the asking principal holds one, so ~8% of chunks are readable.
Questions: SciFact test claims. Target: ``/v1/ask`` p95 <= 300 ms at 100k chunks, concurrency 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from core.embedding import Embedder  # noqa: E402
from core.models import Chunk, Document  # noqa: E402
from core.settings import EmbeddingSettings, Settings  # noqa: E402
from index.generations import EmbeddedGenerationCatalog  # noqa: E402
from index.keywords_tantivy import open_keyword_writer  # noqa: E402
from index.vectors_edge import open_generation_writer  # noqa: E402
from retrieval.evaluation.beir import load_beir  # noqa: E402
from tests.integration.api_support import serve_in_thread  # noqa: E402

GROUPS = 12
KEY = "gw-bench-key"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
DEMO_QUESTIONS = [
    ("alice", "What is the acknowledgement deadline for a SEV1 page, and who gets paged if it is missed?"),
    ("alice", "How many times does Lumen WMS retry a failed webhook, and what happens after the last retry?"),
    ("alice", "At what battery temperature does a Tern auto-park?"),
    ("bob", "How many PTO days do US employees get per year, and how many can they carry over?"),
    ("carol", "What is the total FY2027 operating expense budget, and how much is R&D?"),
    ("carol", "What is the meal per diem for travel outside the US?"),
    ("dave", "What is the CEO's 2026 base salary and target bonus?"),
    ("erin", "What is the first-response time for a P1 support issue?"),
    ("frank", "How much did Northwind raise in its Series C, and who led it?"),
    ("frank", "What is the Tern T2's payload and runtime?"),
    ("erin", "What is the CEO's base salary?"),
    ("carol", "What was Northwind's revenue in FY2023?"),
]


# ----------------------------------------------------------------------------- corpora


def scale_chunks(n: int, rng: random.Random) -> list[Chunk]:
    data = load_beir("/work/shared/datasets/scifact", "test")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    chunks: list[Chunk] = []
    replica = 0
    while len(chunks) < n:
        for doc in data.corpus.values():
            words = doc.text.split()
            if replica:
                words = [w for w in words if rng.random() > 0.08]
            text = " ".join(words)
            if not text:
                continue
            document = Document.create(
                source_id="scifact",
                locator=f"{doc.id}-r{replica}",
                title=doc.title,
                uri=f"scifact://{doc.id}/{replica}",
                updated_at=base + timedelta(minutes=len(chunks)),
                acl=[f"group:g{rng.randrange(GROUPS)}"],
                text=text,
            )
            bounds = [0, *(m.end() for m in _SENTENCE.finditer(text)), len(text)]
            i, ordinal = 0, 0
            while i < len(bounds) - 1 and len(chunks) < n:
                j = min(i + rng.randint(2, 4), len(bounds) - 1)
                start, end = bounds[i], bounds[j]
                while end > start and text[end - 1].isspace():
                    end -= 1
                chunks.append(Chunk.from_document(document, start, end, ordinal=ordinal))
                i, ordinal = j, ordinal + 1
            if len(chunks) >= n:
                break
        replica += 1
    return chunks


def build_scale_index(data_dir: Path, embedder: Embedder, n: int) -> list[str]:
    rng = random.Random(7)
    t0 = time.perf_counter()
    chunks = scale_chunks(n, rng)
    basis = np.random.default_rng(7).standard_normal((64, embedder.dimension)).astype(np.float32)
    catalog = EmbeddedGenerationCatalog(data_dir, "groundwork")
    info = catalog.create(embedder.model_id, embedder.dimension)
    vectors, keywords = (
        open_generation_writer(catalog, info.id, embedder.model_id),
        open_keyword_writer(catalog, info.id),
    )
    for start in range(0, len(chunks), 5_000):
        batch = chunks[start : start + 5_000]
        v = np.random.default_rng(start).standard_normal((len(batch), 64)).astype(np.float32) @ basis
        vectors.upsert(batch, v / np.linalg.norm(v, axis=1, keepdims=True))
        keywords.upsert(batch)
    vectors.optimize()
    vectors.close()
    keywords.close()
    catalog.promote(info.id)
    print(f"built {len(chunks)} chunks in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return list(load_beir("/work/shared/datasets/scifact", "test").queries.values())


def ingest_demo(data_dir: Path, embedder: Embedder) -> Settings:
    import functools
    import http.server
    import threading
    import tomllib

    from pipelines.ingest import run_ingest

    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(REPO / "examples" / "web")
    )
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    raw = tomllib.loads((REPO / "examples" / "groundwork.toml").read_text(encoding="utf-8"))
    raw["backend"]["data_dir"] = str(data_dir)
    for s in raw["pipeline"]["sources"]:
        if "path" in s:
            s["path"] = str(REPO / s["path"])
        if "urls" in s:
            s["urls"] = [
                u.replace("http://127.0.0.1:8765", f"http://127.0.0.1:{web.server_address[1]}")
                for u in s["urls"]
            ]
    settings = Settings(**raw)
    run_ingest(settings, embedder=embedder)
    web.shutdown()
    return settings


# ----------------------------------------------------------------------------- load


def _users_file(path: Path, users: dict[str, list[str]]) -> Path:
    entries = [
        {"id": u, "groups": g, "api_key_sha256": hashlib.sha256(f"{KEY}-{u}".encode()).hexdigest()}
        for u, g in users.items()
    ]
    path.write_text(yaml.safe_dump({"users": entries}), encoding="utf-8")
    return path


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def measure(url: str, endpoint: str, items: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
    """Send every (user, text) once with ``concurrency`` threads; latency per request in ms."""

    def one(item: tuple[str, str]) -> tuple[float, int, bool]:
        user, text = item
        body = {"question": text} if endpoint == "ask" else {"query": text}
        with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {KEY}-{user}"}) as c:
            t0 = time.perf_counter()
            r = c.post(f"/v1/{endpoint}", json=body)
            ms = (time.perf_counter() - t0) * 1000
        return ms, r.status_code, bool(r.json().get("refused")) if r.status_code == 200 else False

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, items))
    wall = time.perf_counter() - t0
    ms = [m for m, _, _ in results]
    return {
        "endpoint": endpoint,
        "concurrency": concurrency,
        "requests": len(items),
        "p50_ms": round(_pct(ms, 50), 1),
        "p95_ms": round(_pct(ms, 95), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "throughput_rps": round(len(items) / wall, 2),
        "errors": sum(s != 200 for _, s, _ in results),
        "refused": sum(f for _, _, f in results),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=["demo", "scale"], default="scale")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--data-dir", type=Path, help="an ingested demo data dir (skips the ingest)")
    ap.add_argument("--requests", type=int, default=40, help="questions per concurrency level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-api-"))
    # a fresh sentence cache: the cold pass really is cold
    embedder = Embedder(EmbeddingSettings(cache_dir=tmp / "cache"))
    if args.corpus == "scale":
        texts = build_scale_index(tmp / "data", embedder, args.chunks)
        users = {"bencher": ["g3"]}
        items = [("bencher", t) for t in texts]
        settings = Settings(backend={"data_dir": tmp / "data"})
    else:
        if args.data_dir is None:
            settings = ingest_demo(tmp / "data", embedder)
        else:
            settings = Settings(backend={"data_dir": args.data_dir})
        users = {
            "alice": ["everyone", "engineering"],
            "bob": ["everyone", "hr"],
            "carol": ["everyone", "finance"],
            "dave": ["everyone", "leadership", "finance"],
            "erin": ["everyone"],
            "frank": [],
        }
        items = DEMO_QUESTIONS * (1 + args.requests // len(DEMO_QUESTIONS))
    users_file = _users_file(tmp / "users.yaml", users)
    settings = settings.model_copy(
        update={
            "api": settings.api.model_copy(
                update={"users_file": users_file, "rate_limit_per_minute": 1_000_000}
            )
        }
    )
    rows: list[dict[str, Any]] = []
    with serve_in_thread(create_app(settings, embedder=embedder)) as url:
        httpx.post(
            f"{url}/v1/search",
            json={"query": "warm up"},
            headers={"Authorization": f"Bearer {KEY}-{items[0][0]}"},
        )
        offset = 0
        for concurrency in args.concurrency:
            batch = items[offset : offset + args.requests]
            offset += args.requests if args.corpus == "scale" else 0
            for endpoint in ("search", "ask"):
                for label in ("cold", "warm"):
                    row = measure(url, endpoint, batch, concurrency) | {"pass": label, "corpus": args.corpus}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"\n{args.corpus} corpus" + (f", {args.chunks} chunks" if args.corpus == "scale" else ""))
        print("| endpoint | concurrency | pass | p50 ms | p95 ms | req/s | errors | refused |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| /v1/{r['endpoint']} | {r['concurrency']} | {r['pass']} | {r['p50_ms']} | {r['p95_ms']} | "
                f"{r['throughput_rps']} | {r['errors']} | {r['refused']}/{r['requests']} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
