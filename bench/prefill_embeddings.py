"""Fill the embedding cache for evaluation corpora (ideally on a GPU), and carry it over.

    uv run python bench/prefill_embeddings.py scifact:chunks scifact:queries scifact:sentences
    uv run python bench/prefill_embeddings.py scifact:candidates:train scifact:candidates:test
    uv run python bench/prefill_embeddings.py --device cuda --export /out/emb scifact:chunks ...
    uv run python bench/prefill_embeddings.py --import /path/emb      # on the CPU machine

Jobs are ``DATASET:KIND`` with KIND ``chunks`` (what dense search embeds: the evaluation chunking
of retrieval.evaluation.indexing), ``queries`` (every query of the dataset, all splits),
``sentences`` (what the max-similarity reranker and grounding embed: every chunk's sentences) or
``candidates[:SPLIT]`` (only the sentences of the chunks the rerankers will see: each judged
query's top ``retrieval.rerank_depth`` under the default weighted fusion, for SPLIT or every
split). A reranker evaluated at that depth reads exactly those sentences, so its figures are the
same as with the whole corpus embedded, for a fraction of the work; ``candidates`` needs the
dataset's ``chunks`` and ``queries`` cached first (it runs the hybrid retriever). Vectors go into the
shared cache (``~/.cache/groundwork/embeddings``, keyed by model id and text hash), so every
later evaluation run is a cache hit. On these 2 shared CPU cores MiniLM embeds only a few
hundred tokens a second; SciFact's 10k chunks are ~1.9M tokens, its sentences ~1.8M.

``--export DIR`` also writes the job's vectors as ``.npz`` shards of at most ~15 MiB (hash and
float32 vector, with the model id), which ``--import DIR`` loads into the cache elsewhere. The
cache keys depend on the chunk texts: a change to index/chunking.py means re-embedding.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from core.embedding import Embedder, EmbeddingCache
from core.ids import content_hash
from core.models import Chunk
from core.settings import Settings
from index.passages import embedding_input
from retrieval.evaluation.beir import load_beir, merge_splits
from retrieval.evaluation.configs import resolve_config
from retrieval.evaluation.indexing import chunk_corpus
from retrieval.evaluation.runner import EvalSession
from retrieval.rerankers.maxsim import sentence_texts

DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SHARD_ROWS = 10_000  # 10k x 384 float32 = 15 MB


def candidate_sentences(
    root: Path, split: str, embedder: Embedder, settings: Settings, sample: int | None = None
) -> list[str]:
    """Sentences of every judged query's top ``rerank_depth`` chunks under weighted fusion.

    ``sample`` keeps that many queries per split (the seeded draw of ``BeirDataset.sample``,
    the same one ``eval_all.py --sample`` and ``train_reranker.py --sample`` evaluate).
    """
    splits = [split] if split else sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
    parts = [load_beir(root, s) for s in splits]
    if sample:
        parts = [p.sample(sample) for p in parts]
    ds = merge_splits(parts)
    configs = [resolve_config("hybrid-weighted")]
    depth = settings.retrieval.rerank_depth
    seen: dict[str, Chunk] = {}
    with EvalSession(ds, settings=settings, embedder=embedder) as session:
        for config in configs:
            ranked, _ = session.ranked(config)
            for items in ranked.values():
                for item in items[:depth]:
                    seen.setdefault(item.chunk.id, item.chunk)
    print(
        f"{root.name}:{'+'.join(splits)}: {len(ds.queries)} queries, {len(seen)} candidate chunks "
        f"at depth {depth}",
        file=sys.stderr,
        flush=True,
    )
    return [t for c in seen.values() for t in sentence_texts(c)]


def job_texts(
    datasets_dir: Path, job: str, embedder: Embedder, settings: Settings, sample: int | None = None
) -> list[str]:
    name, _, rest = job.partition(":")
    kind, _, split = rest.partition(":")
    root = datasets_dir / name
    if kind == "candidates":
        texts = candidate_sentences(root, split, embedder, settings, sample)
    elif kind == "queries":
        texts = [
            json.loads(line)["text"] for line in (root / "queries.jsonl").read_text().splitlines() if line
        ]
    elif kind in ("chunks", "sentences"):
        qrels = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        ds = load_beir(root, "test" if "test" in qrels else qrels[0])
        chunks, _ = chunk_corpus(ds, embedder, settings)
        if kind == "chunks":
            texts = [embedding_input(c) for c in chunks]
        else:
            texts = [t for c in chunks for t in sentence_texts(c)]
    else:
        raise SystemExit(
            f"unknown job kind {kind!r} in {job!r}: use chunks, queries, sentences or candidates[:SPLIT]"
        )
    return sorted(set(texts), key=len)


def export(embedder: Embedder, texts: list[str], out: Path, label: str) -> None:
    assert embedder.cache is not None
    out.mkdir(parents=True, exist_ok=True)
    hashes = [content_hash(t) for t in texts]
    for i in range(0, len(hashes), SHARD_ROWS):
        part = hashes[i : i + SHARD_ROWS]
        found = embedder.cache.get_many(embedder.model_id, part)
        np.savez(
            out / f"{label.replace(':', '-')}-{i // SHARD_ROWS:03d}.npz",
            model=np.array(embedder.model_id),
            hashes=np.array(part),
            vectors=np.stack([found[h] for h in part]).astype(np.float32),
        )


def import_dir(cache: EmbeddingCache, folder: Path) -> int:
    n = 0
    for f in sorted(folder.glob("*.npz")):
        data = np.load(f)
        model = str(data["model"])
        cache.put_many(model, {str(h): v for h, v in zip(data["hashes"], data["vectors"], strict=True)})
        n += len(data["hashes"])
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jobs", nargs="*", help="DATASET:KIND")
    ap.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    ap.add_argument("--device", default=None, help="cpu, cuda, ... (default: settings)")
    ap.add_argument("--batch", type=int, default=1024, help="texts per cache write")
    ap.add_argument("--sample", type=int, help="candidates: only this many queries per split")
    ap.add_argument("--rerank-depth", type=int, help="candidates: depth (default: the settings')")
    ap.add_argument("--export", type=Path)
    ap.add_argument("--import", dest="import_dir", type=Path)
    args = ap.parse_args(argv)
    settings = Settings()
    if args.rerank_depth:
        settings = settings.model_copy(
            update={"retrieval": settings.retrieval.model_copy(update={"rerank_depth": args.rerank_depth})}
        )
    emb_settings = settings.embedding
    if args.device:
        emb_settings = emb_settings.model_copy(update={"device": args.device, "batch_size": 256})
    if args.import_dir:
        n = import_dir(EmbeddingCache(emb_settings.cache_dir), args.import_dir)
        print(f"imported {n} vectors into {emb_settings.cache_dir}")
    embedder = Embedder(emb_settings)
    for job in args.jobs:
        texts = job_texts(args.datasets_dir, job, embedder, settings, args.sample)
        t0 = time.perf_counter()
        before = embedder.encoded_count
        for i in range(0, len(texts), args.batch):
            embedder.encode(texts[i : i + args.batch])
            print(
                f"{job} {min(i + args.batch, len(texts))}/{len(texts)} {time.perf_counter() - t0:.0f}s "
                f"(embedded {embedder.encoded_count - before})",
                file=sys.stderr,
                flush=True,
            )
        if args.export:
            export(embedder, texts, args.export, job)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
