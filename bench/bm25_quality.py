"""BM25 quality of the keyword stores on public, human-judged sets (BEIR layout).

Indexes each corpus document as one public chunk (title + text), runs every judged test query
through the store's ACL-filtered search, and scores the run with pytrec_eval. The reference
(bm25s, Lucene BM25 k1=0.9 b=0.4, English stop words + Snowball, title+text) is in
/work/shared/datasets/README.md; a store within 0.01 nDCG@10 of it analyses text as it should.

    uv run python bench/bm25_quality.py                      # tantivy on scifact + cranfield
    uv run python bench/bm25_quality.py --opensearch-url http://127.0.0.1:9200
    uv run python bench/bm25_quality.py --sets scifact --split train   # tune on train only

Not a test: it reads /work/shared/datasets, which a fresh clone does not have.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytrec_eval

from core.acl import Principal
from core.models import Chunk, ChunkSpan
from index.types import KeywordStore, SearchFilter

DATASETS = Path("/work/shared/datasets")
REFERENCE = {"scifact": 0.676, "cranfield": 0.358, "cisi": 0.372, "medline": 0.671, "adi": 0.480}
DEPTH = 100
MEASURES = {"ndcg_cut.10", "recall.100", "recip_rank"}


@dataclass(frozen=True)
class BeirSet:
    name: str
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_beir(name: str, split: str = "test", root: Path = DATASETS) -> BeirSet:
    """Load a BEIR-layout set; only queries with at least one positive judgment are kept."""
    folder = root / name
    corpus_path = folder / "corpus.jsonl"
    if not corpus_path.exists():
        corpus_path = folder / "corpus.jsonl.gz"
    corpus = {str(d["_id"]): (str(d.get("title") or ""), str(d["text"])) for d in _jsonl(corpus_path)}
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    qrels = {q: judged for q, judged in qrels.items() if any(s > 0 for s in judged.values())}
    queries = {str(q["_id"]): str(q["text"]) for q in _jsonl(folder / "queries.jsonl")}
    return BeirSet(name, corpus, {q: queries[q] for q in qrels if q in queries}, qrels)


def corpus_chunks(data: BeirSet, acl: tuple[str, ...] = ("public",)) -> list[Chunk]:
    """One chunk per corpus document; ids are the corpus ids so runs map straight to qrels."""
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Chunk(
            id=doc_id,
            document_id=doc_id,
            source_id=data.name,
            text=text,
            span=ChunkSpan(start=0, end=len(text)),
            title=title,
            acl=acl,
            updated_at=stamp,
        )
        for doc_id, (title, text) in data.corpus.items()
    ]


def evaluate(store: KeywordStore, data: BeirSet, depth: int = DEPTH) -> dict[str, float]:
    """Index ``data`` into ``store``, run its queries, return mean measures and query latency."""
    chunks = corpus_chunks(data)
    for start in range(0, len(chunks), 1000):
        store.upsert(chunks[start : start + 1000])
    flt = SearchFilter.for_principal(Principal(user_id="bench"))
    run: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for qid, text in data.queries.items():
        run[qid] = {h.chunk.id: h.score for h in store.search(text, flt, depth)}
    per_query_ms = (time.perf_counter() - started) * 1000 / max(len(data.queries), 1)
    scores = pytrec_eval.RelevanceEvaluator(data.qrels, MEASURES).evaluate(run)
    n = len(scores)
    means = {m: sum(s[m.replace(".", "_")] for s in scores.values()) / n for m in MEASURES}
    return {**means, "queries": float(n), "ms_per_query": per_query_ms}


def _tantivy_factory() -> Callable[[], KeywordStore]:
    from index.keywords_tantivy import TantivyKeywordStore

    def make() -> KeywordStore:
        return TantivyKeywordStore(tempfile.mkdtemp(prefix="gw-bm25-"))

    return make


def _opensearch_factory(url: str) -> Callable[[], KeywordStore]:
    from index.keywords_opensearch import OpenSearchKeywordStore, opensearch_client

    client = opensearch_client(url, timeout_s=60)

    def make() -> KeywordStore:
        return OpenSearchKeywordStore.create(client, f"gw-bm25-{uuid.uuid4().hex[:8]}")

    return make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["scifact", "cranfield"])
    parser.add_argument("--split", default="test")
    parser.add_argument("--opensearch-url", default=None, help="also measure OpenSearch")
    parser.add_argument("--skip-tantivy", action="store_true")
    args = parser.parse_args(argv)

    backends: dict[str, Callable[[], KeywordStore]] = {}
    if not args.skip_tantivy:
        backends["tantivy"] = _tantivy_factory()
    if args.opensearch_url:
        backends["opensearch"] = _opensearch_factory(args.opensearch_url)

    print(
        f"{'set':<10} {'backend':<11} {'nDCG@10':>8} {'ref':>6} {'diff':>7} {'R@100':>6} {'MRR':>6} "
        f"{'queries':>7} {'ms/q':>6}"
    )
    for name in args.sets:
        data = load_beir(name, args.split)
        for backend, make in backends.items():
            store = make()
            try:
                m = evaluate(store, data)
            finally:
                _discard(store)
            ref = REFERENCE.get(name, float("nan")) if args.split == "test" else float("nan")
            print(
                f"{name:<10} {backend:<11} {m['ndcg_cut.10']:>8.4f} {ref:>6.3f} "
                f"{m['ndcg_cut.10'] - ref:>+7.4f} {m['recall.100']:>6.3f} {m['recip_rank']:>6.3f} "
                f"{int(m['queries']):>7} {m['ms_per_query']:>6.2f}"
            )
    return 0


def _discard(store: KeywordStore) -> None:
    drop = getattr(store, "drop_index", None)
    if callable(drop):
        drop()
    store.close()


if __name__ == "__main__":
    sys.exit(main())
