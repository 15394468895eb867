"""Ingest benchmark: the whole pipeline against the bare embedding call, and the unchanged re-run.

For each corpus (SciFact: 5,183 abstracts from ../shared/datasets; the demo corpus in examples/):

1. full ingest with ``run_ingest`` (the Dagster assets, in-process) into a temp data_dir, with an
   EMPTY temp embedding cache; the model is loaded before the clock starts;
2. the bare embedding call (``Embedder.encode``, same batch size, inputs sorted by length like
   the pipeline's) on the same embedding inputs (``index.passages.embedding_input``: title +
   chunk text), with another EMPTY temp cache: chunks/s of both, and their ratio (target >= 0.9).
   Sentence pre-embedding (``pipeline.embed_sentences``) is off for this comparison, since the
   bare call embeds no sentences; ``--sentences`` turns it on and reports its cost separately;
3. an unchanged re-run (target <= 5% of the full run's time);
4. what a one-document change costs in embedded mode: cloning the live generation (file copy)
   versus rebuilding it from the manifest and the embedding cache (no parsing, no model call).

SciFact is ingested as one text file per abstract (a folder source, parsed like any document)
and, with ``--scifact-as tickets``, as a JSONL export (no parser: isolates parsing's share).

Usage::

    uv run python bench/bench_ingest.py                       # both corpora
    uv run python bench/bench_ingest.py --corpus scifact --limit 1000
    uv run python bench/bench_ingest.py --json bench-ingest.json
    uv run python bench/bench_ingest.py --corpus demo --sentences   # with sentence pre-embedding
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.embedding import Embedder  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from index.passages import embedding_input  # noqa: E402
from pipelines.backends import EmbeddedBackend, TargetKind, restore_engine_metadata  # noqa: E402
from pipelines.ingest import IngestReport, run_ingest  # noqa: E402
from pipelines.manifest import Manifest  # noqa: E402
from pipelines.writes import BATCH, chunk_batches  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl.gz"
EXAMPLES = ROOT / "examples"


@dataclass
class CorpusResult:
    corpus: str
    documents: int
    chunks: int
    full_run_s: float
    pipeline_chunks_per_s: float
    bare_embed_s: float
    bare_chunks_per_s: float
    ratio: float
    unchanged_run_s: float
    unchanged_share: float
    clone_s: float
    rebuild_s: float
    sentences_embedded: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    unchanged_stages: dict[str, float] = field(default_factory=dict)


def write_scifact(folder: Path, limit: int | None, as_tickets: bool) -> int:
    folder.mkdir(parents=True)
    count = 0
    with gzip.open(SCIFACT, "rt", encoding="utf-8") as fh, open(folder / "scifact.jsonl", "w") as jsonl:
        for line in fh:
            doc = json.loads(line)
            title, text = doc.get("title", "").strip(), doc.get("text", "").strip()
            if not text:
                continue
            if as_tickets:
                record = {"id": doc["_id"], "title": title or doc["_id"], "body": text, "acl": ["public"]}
                jsonl.write(json.dumps(record) + "\n")
            else:
                (folder / f"{doc['_id']}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
            count += 1
            if limit and count >= limit:
                break
    if not as_tickets:
        (folder / "scifact.jsonl").unlink()
    return count


def settings_for(work: Path, sources: list[dict[str, Any]], cache: Path, sentences: bool) -> Settings:
    return load_settings(
        backend={"data_dir": str(work / "var"), "keep_generations": 2},
        embedding={"cache_dir": str(cache)},
        pipeline={"sources": sources, "embed_sentences": sentences},
    )


def stage_seconds(report: IngestReport) -> dict[str, float]:
    keys = {
        "manifest": "listing",
        "parsed_documents": "parse",
        "chunks": "chunk",
        "embeddings": "embed",
        "index_writes": "write",
        "live_generation": "promote+commit",
    }
    out = dict.fromkeys(keys.values(), 0.0)
    for run in report.sources:
        for asset, label in keys.items():
            out[label] += float(run.metadata.get(asset, {}).get("seconds", 0.0))
    return {k: round(v, 2) for k, v in out.items()}


def loaded_embedder(cache: Path) -> Embedder:
    embedder = Embedder(load_settings(embedding={"cache_dir": str(cache)}).embedding)
    embedder.encode_query("warm up")  # load the model (and let torch allocate) before any clock runs
    return embedder


def clone_vs_rebuild(settings: Settings, embedder: Embedder) -> tuple[float, float]:
    """Seconds to make a writable copy of the live generation, and to rebuild it from the manifest."""
    backend = EmbeddedBackend(settings)
    live = backend.live()
    assert live is not None
    started = time.perf_counter()
    clone = backend.catalog.create(live.embedding_model, live.dimension, clone_from=live.id)
    restore_engine_metadata(
        backend.catalog.generation_path(live.id), backend.catalog.generation_path(clone.id)
    )
    clone_s = time.perf_counter() - started
    backend.drop(clone.id)
    started = time.perf_counter()
    target = backend.open_target(TargetKind.REBUILD, live.embedding_model, live.dimension)
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        for batch in chunk_batches(manifest.indexed_chunks(), BATCH):
            target.vectors.upsert(batch, embedder.encode([embedding_input(c) for c in batch]))
            target.keywords.upsert(batch)
    target.finish()
    rebuild_s = time.perf_counter() - started
    assert target.generation_id is not None
    backend.drop(target.generation_id)
    return clone_s, rebuild_s


def bench(
    name: str, sources: list[dict[str, Any]], work: Path, documents: int, *, sentences: bool = False
) -> CorpusResult:
    pipeline_cache, bare_cache = work / "cache-pipeline", work / "cache-bare"
    settings = settings_for(work, sources, pipeline_cache, sentences)
    embedder = loaded_embedder(pipeline_cache)
    encoded_before = embedder.encoded_count
    print(f"[{name}] full ingest of {documents} documents ...", flush=True)
    started = time.perf_counter()
    full = run_ingest(settings, embedder=embedder)
    full_s = time.perf_counter() - started
    failed = [(r.source_id, r.error) for r in full.sources if r.status != "ok"]
    if failed:
        raise SystemExit(f"ingest failed: {failed}")
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        # what the pipeline embedded (title + chunk text), shortest first as the pipeline batches them
        texts = sorted((embedding_input(c) for c in manifest.indexed_chunks()), key=len)
    print(
        f"[{name}] {len(texts)} chunks in {full_s:.1f} s ({embedder.encoded_count - encoded_before} embedded)"
    )

    bare = loaded_embedder(bare_cache)
    print(f"[{name}] bare embedding of the same {len(texts)} chunk texts ...", flush=True)
    started = time.perf_counter()
    bare.encode(texts)
    bare_s = time.perf_counter() - started

    print(f"[{name}] unchanged re-run ...", flush=True)
    started = time.perf_counter()
    again = run_ingest(settings, embedder=embedder)
    unchanged_s = time.perf_counter() - started
    assert all(r.summary is not None and r.summary.chunks_written == 0 for r in again.sources)
    print(f"[{name}] unchanged re-run: {unchanged_s:.2f} s, stages {stage_seconds(again)}", flush=True)

    clone_s, rebuild_s = clone_vs_rebuild(settings, embedder)
    pipeline_rate = len(texts) / full_s
    bare_rate = len(texts) / bare_s
    return CorpusResult(
        corpus=name,
        documents=documents,
        chunks=len(texts),
        full_run_s=round(full_s, 2),
        pipeline_chunks_per_s=round(pipeline_rate, 1),
        bare_embed_s=round(bare_s, 2),
        bare_chunks_per_s=round(bare_rate, 1),
        ratio=round(pipeline_rate / bare_rate, 3),
        unchanged_run_s=round(unchanged_s, 2),
        unchanged_share=round(unchanged_s / full_s, 4),
        clone_s=round(clone_s, 3),
        rebuild_s=round(rebuild_s, 2),
        sentences_embedded=sum(
            int(r.metadata.get("embeddings", {}).get("sentences_embedded", 0)) for r in full.sources
        ),
        stages=stage_seconds(full),
        unchanged_stages=stage_seconds(again),
    )


def scifact_sources(work: Path, limit: int | None, as_tickets: bool) -> tuple[list[dict[str, Any]], int]:
    folder = work / "scifact"
    count = write_scifact(folder, limit, as_tickets)
    if as_tickets:
        return [{"id": "scifact", "kind": "tickets", "path": str(folder / "scifact.jsonl")}], count
    return [{"id": "scifact", "kind": "folder", "path": str(folder), "default_acl": ["public"]}], count


def demo_sources(work: Path) -> tuple[list[dict[str, Any]], int]:
    """The demo corpus's folder and ticket sources (the status pages need a server: left out)."""
    shutil.copytree(EXAMPLES / "corpus", work / "corpus")
    shutil.copy(EXAMPLES / "tickets" / "tickets.jsonl", work / "tickets.jsonl")
    config = tomllib.loads((EXAMPLES / "groundwork.toml").read_text(encoding="utf-8"))
    sources = []
    documents = 0
    for source in config["pipeline"]["sources"]:
        if source["kind"] == "folder":
            path = work / "corpus" / Path(source["path"]).name
            documents += sum(1 for p in path.rglob("*") if p.is_file() and not p.name.endswith(".yaml"))
            sources.append({**source, "path": str(path)})
        elif source["kind"] == "tickets":
            documents += sum(1 for line in (work / "tickets.jsonl").read_text().splitlines() if line.strip())
            sources.append({**source, "path": str(work / "tickets.jsonl")})
    return sources, documents


HEADER = (
    f"{'corpus':<20}{'docs':>7}{'chunks':>8}{'full s':>9}{'pipe c/s':>10}{'bare c/s':>10}{'ratio':>7}"
    f"{'rerun s':>9}{'rerun %':>9}{'clone s':>9}{'rebuild s':>11}"
)


def print_result(r: CorpusResult, *, header: bool = True) -> None:
    if header:
        print(HEADER)
    print(
        f"{r.corpus:<20}{r.documents:>7}{r.chunks:>8}{r.full_run_s:>9.1f}{r.pipeline_chunks_per_s:>10.1f}"
        f"{r.bare_chunks_per_s:>10.1f}{r.ratio:>7.2f}{r.unchanged_run_s:>9.2f}"
        f"{100 * r.unchanged_share:>8.1f}%{r.clone_s:>9.3f}{r.rebuild_s:>11.2f}"
    )
    print(f"{'':<20}stages (s): {r.stages}")
    print(f"{'':<20}unchanged re-run stages (s): {r.unchanged_stages}")
    if r.sentences_embedded:
        print(f"{'':<20}sentences embedded: {r.sentences_embedded}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=("scifact", "demo", "both"), default="both")
    parser.add_argument("--scifact-as", choices=("folder", "tickets"), default="folder")
    parser.add_argument("--limit", type=int, default=None, help="first N SciFact abstracts only")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--sentences", action="store_true", help="pipeline.embed_sentences on (off: compare with bare)"
    )
    args = parser.parse_args(argv)
    print(f"load: {os.getloadavg()}, cpus: {os.cpu_count()}", flush=True)
    results: list[CorpusResult] = []

    def done(result: CorpusResult) -> None:
        results.append(result)
        print_result(result)
        if args.json:  # written after each corpus, so a long run keeps what it measured
            args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))

    if args.corpus in ("demo", "both"):
        with tempfile.TemporaryDirectory(prefix="gw-bench-demo-") as tmp:
            sources, documents = demo_sources(Path(tmp))
            done(bench("demo", sources, Path(tmp), documents, sentences=args.sentences))
    if args.corpus in ("scifact", "both"):
        if not SCIFACT.is_file():
            raise SystemExit(f"SciFact not found at {SCIFACT}")
        with tempfile.TemporaryDirectory(prefix="gw-bench-scifact-") as tmp:
            sources, documents = scifact_sources(Path(tmp), args.limit, args.scifact_as == "tickets")
            done(
                bench(f"scifact ({args.scifact_as})", sources, Path(tmp), documents, sentences=args.sentences)
            )
    print()
    print(HEADER)
    for r in results:
        print_result(r, header=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
