"""Offline lab for reranking signals: dump one retrieval pass, then score signals on it in numpy.

    uv run python bench/evidence_lab.py dump scifact --split train test      # real index layer
    uv run python bench/evidence_lab.py blend scifact --split train          # sentence BM25 blends
    uv run python bench/evidence_lab.py linear scifact --train train --depth 50 --report train
    uv run python bench/evidence_lab.py linear scifact --train train --depth 50 --report train test \
        --sets +sent --save M.json                                          # a finalist, test once
    uv run python bench/evidence_lab.py dump medline && \
        uv run python bench/evidence_lab.py apply medline --model M.json   # another set
    uv run python bench/evidence_lab.py check scifact                       # lab == reranker, cost

``dump`` indexes the dataset through :class:`retrieval.evaluation.runner.EvalSession` (Qdrant
Edge + tantivy, the harness' own path), fetches every judged query's BM25 and dense lists at
``--depth`` and pickles them with the chunk texts and vectors (from the embedding cache). The
other commands replay fusion exactly as the retriever does (``retrieval.fusion.weighted_fusion``,
min-max, dense weight 0.5, 100 candidates per engine), so the lab's ``hybrid`` row equals the
harness' figure (SciFact train 0.7332), and score documents by MaxP with the harness' pytrec_eval
metrics. A signal that wins here is then built as a reranker and measured through the harness.

``blend``: (1 - w) * fused + w * best-sentence BM25 over the fused top ``--depth`` (both min-max).
``linear``: logistic regression over the evidence reranker's features (and the extra columns
below) at ``--depth``, 5-fold cross-validated on the ``--train`` split (the CV figure is the
tuning figure), then fitted on all of it and scored on ``--report`` splits. Feature sets:
``stage`` (the engines' features), ``+sent`` (:data:`retrieval.rerankers.evidence.FEATURES`),
``+prf`` (stage + Rocchio cosine: the query vector plus 0.6 x the mean of the top-5 fused
candidates' vectors, cosine with each candidate) and ``+sent+prf``.
"""

from __future__ import annotations

import argparse
import functools
import math
import pickle
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.models import Chunk, ChunkSpan
from core.settings import Settings
from retrieval.evaluation.beir import load_beir, merge_splits
from retrieval.evaluation.indexing import EVAL_UPDATED_AT, embed_chunks
from retrieval.evaluation.metrics import evaluate
from retrieval.evaluation.runner import EvalSession
from retrieval.evidence import SentenceBM25, engine_analyzer
from retrieval.fusion import Normalization, weighted_fusion
from retrieval.rerankers import evidence
from retrieval.rerankers.base import Candidate, RerankQuery
from retrieval.rerankers.learned import LinearModel, fit_logistic
from retrieval.results import Stage, StageScore

DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CANDIDATES = 100  # chunks per engine, as RetrievalSettings.candidates
NAMES = (
    "bm25_rel",
    "bm25_recip",
    "bm25_missing",
    "dense_cos",
    "dense_rel",
    "dense_recip",
    "dense_missing",
    "fused_mm",
    "sent_rel",
    "sent_mm",
    "prf_cos",
    "prf_rel",
)
SETS = {
    "stage": NAMES[:8],  # NAMES[:10] == retrieval.rerankers.evidence.FEATURES
    "+sent": NAMES[:10],
    "+prf": NAMES[:8] + NAMES[10:],
    "+sent+prf": NAMES,
}
Ranked = list[tuple[str, float]]
if NAMES[:10] != evidence.FEATURES:
    raise SystemExit("bench/evidence_lab.py: NAMES[:10] must equal retrieval.rerankers.evidence.FEATURES")


def dump(args: argparse.Namespace) -> None:
    root = args.datasets_dir / args.dataset
    parts = [load_beir(root, s) for s in args.split]
    if args.sample:
        parts = [p.sample(args.sample) for p in parts]
    ds = merge_splits(parts) if len(parts) > 1 else parts[0]
    with EvalSession(ds, settings=Settings(), progress=lambda m: print(m, file=sys.stderr)) as s:
        hits = s.engine_hits(max(args.depth, CANDIDATES))
        chunks = s.index.chunks
        data = {
            "chunks": [(c.id, s.index.beir_id[c.document_id], c.title, c.text) for c in chunks],
            "chunk_vecs": np.asarray(embed_chunks(s.embedder, chunks), dtype=np.float32),
            "queries": {q: ds.queries[q] for q in s.qids},
            "qvecs": {q: s.query_vectors[q] for q in s.qids},
            "bm25": {q: [(h.chunk.id, h.score) for h in hits[q].bm25] for q in s.qids},
            "dense": {q: [(h.chunk.id, h.score) for h in hits[q].dense] for q in s.qids},
            "qrels": {p.split: p.qrels for p in parts},
        }
    out = args.out_dir / f"{args.dataset}.pkl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pickle.dumps(data))
    print(f"wrote {out}")


class Lab:
    """One dumped retrieval pass."""

    def __init__(self, path: Path) -> None:
        self.d: dict[str, Any] = pickle.loads(path.read_bytes())
        self.cidx = {c[0]: i for i, c in enumerate(self.d["chunks"])}
        self.doc = [c[1] for c in self.d["chunks"]]
        self.vecs: np.ndarray = self.d["chunk_vecs"]
        self.qids = sorted(self.d["queries"])
        self.qrels: dict[str, dict[str, dict[str, int]]] = self.d["qrels"]
        self.judged = {q: j for split in self.qrels.values() for q, j in split.items()}
        analyze = engine_analyzer()
        cached = functools.lru_cache(maxsize=None)(lambda text: tuple(analyze(text)))
        self.sentences = SentenceBM25(cached)
        self._chunks: dict[str, Any] = {}

    def fused(self, q: str) -> Ranked:
        runs = {
            "bm25": self.d["bm25"][q][:CANDIDATES],
            "dense": self.d["dense"][q][:CANDIDATES],
        }
        fused = weighted_fusion(runs, {"bm25": 0.5, "dense": 0.5}, normalization=Normalization.MINMAX)
        return [(f.key, f.score) for f in fused]

    def docrun(self, ranked: Ranked) -> dict[str, float]:
        docs: dict[str, float] = {}
        for cid, score in ranked:
            d = self.doc[self.cidx[cid]]
            if d not in docs or score > docs[d]:
                docs[d] = float(score)
        return docs

    def ndcg(self, runs: dict[str, dict[str, float]], split: str) -> float:
        qrels = self.qrels[split]
        return evaluate(qrels, {q: runs[q] for q in qrels})["ndcg@10"]

    def chunk(self, cid: str) -> Any:
        """A stand-in with what SentenceBM25 reads (title, text): no pydantic per chunk."""
        if cid not in self._chunks:
            row = self.d["chunks"][self.cidx[cid]]
            title, text = row[2], row[3]
            self._chunks[cid] = argparse.Namespace(title=title, text=text)
        return self._chunks[cid]

    def sentence_scores(self, q: str, ranked: Ranked) -> np.ndarray:
        return np.array(self.sentences.scores(self.d["queries"][q], [self.chunk(c) for c, _ in ranked]))

    def features(self, q: str, ranked: Ranked) -> np.ndarray:
        """:data:`NAMES` per candidate; the first ten as retrieval.rerankers.evidence computes them."""
        bm = {c: (s, i) for i, (c, s) in enumerate(self.d["bm25"][q][:CANDIDATES], start=1)}
        de = {c: (s, i) for i, (c, s) in enumerate(self.d["dense"][q][:CANDIDATES], start=1)}
        best_b = max((bm[c][0] for c, _ in ranked if c in bm), default=0.0)
        cosines = [de[c][0] for c, _ in ranked if c in de] or [0.0]
        low, best_c = min(cosines), max(cosines)
        fused = minmax(np.array([s for _, s in ranked]))
        sent = self.sentence_scores(q, ranked)
        best_s = float(sent.max())
        sent_mm = minmax(sent) if best_s > 0 else np.zeros_like(sent)
        ids = [self.cidx[c] for c, _ in ranked]
        rocchio = self.d["qvecs"][q] + 0.6 * self.vecs[ids[:5]].mean(axis=0)
        prf = self.vecs[ids] @ (rocchio / np.linalg.norm(rocchio))
        x = np.zeros((len(ranked), len(NAMES)))
        for i, (c, _) in enumerate(ranked):
            b, d = bm.get(c), de.get(c)
            cos = d[0] if d else low
            x[i] = (
                b[0] / best_b if b and best_b > 0 else 0.0,
                1.0 / math.sqrt(b[1]) if b else 0.0,
                0.0 if b else 1.0,
                cos,
                cos - best_c,
                1.0 / math.sqrt(d[1]) if d else 0.0,
                0.0 if d else 1.0,
                fused[i],
                sent[i] / best_s if best_s > 0 else 0.0,
                sent_mm[i],
                prf[i],
                prf[i] - prf.max(),
            )
        return x

    def labels(self, q: str, ranked: Ranked) -> np.ndarray:
        relevant = {d for d, g in self.judged[q].items() if g > 0}
        return np.array([1.0 if self.doc[self.cidx[c]] in relevant else 0.0 for c, _ in ranked])


def minmax(v: np.ndarray) -> np.ndarray:
    lo, hi = float(v.min()), float(v.max())
    return np.ones_like(v) if hi - lo <= 1e-12 else (v - lo) / (hi - lo)


def reorder(head: Ranked, scores: Sequence[float], tail: Ranked) -> Ranked:
    """The head in score order above the tail (as HybridRetriever._rerank)."""
    top = max(s for _, s in tail) if tail else 0.0
    lift = top + 1.0 - min(scores)
    return [(c, float(s) + lift) for (c, _), s in zip(head, scores, strict=True)] + tail


def blend(args: argparse.Namespace) -> None:
    lab = Lab(args.out_dir / f"{args.dataset}.pkl")
    fused = {q: lab.fused(q) for q in lab.qids}
    sent = {q: minmax(lab.sentence_scores(q, fused[q][: args.depth])) for q in lab.qids}
    for split in args.split:
        print(f"{split} hybrid: {lab.ndcg({q: lab.docrun(r) for q, r in fused.items()}, split):.4f}")
        for w in args.weights:
            runs = {}
            for q, ranked in fused.items():
                head = ranked[: args.depth]
                f = minmax(np.array([s for _, s in head]))
                runs[q] = lab.docrun(reorder(head, list((1 - w) * f + w * sent[q]), ranked[args.depth :]))
            print(f"{split} blend sentence BM25 w={w} depth={args.depth}: {lab.ndcg(runs, split):.4f}")


def linear(args: argparse.Namespace) -> None:
    lab = Lab(args.out_dir / f"{args.dataset}.pkl")
    fused = {q: lab.fused(q) for q in lab.qids}
    rows = {
        q: (lab.features(q, fused[q][: args.depth]), lab.labels(q, fused[q][: args.depth])) for q in lab.qids
    }
    train = sorted(lab.qrels[args.train])
    order = train[:]
    random.Random(0).shuffle(order)
    folds = [order[i::5] for i in range(5)]

    def fit(queries: Sequence[str], cols: list[int]) -> LinearModel:
        use = [q for q in queries if rows[q][1].any()]
        x = np.vstack([rows[q][0][:, cols] for q in use])
        y = np.concatenate([rows[q][1] for q in use])
        return fit_logistic(x, y, l2=args.l2, features=[NAMES[c] for c in cols])

    def run(model: LinearModel, q: str, cols: list[int]) -> dict[str, float]:
        head = fused[q][: args.depth]
        scores = model.predict(rows[q][0][:, cols])
        return lab.docrun(reorder(head, list(scores), fused[q][args.depth :]))

    for split in args.report:
        print(f"{split} hybrid: {lab.ndcg({q: lab.docrun(r) for q, r in fused.items()}, split):.4f}")
    for name in args.sets:
        cols = [NAMES.index(f) for f in SETS[name]]
        cv: dict[str, dict[str, float]] = {}
        for k, fold in enumerate(folds):
            model = fit([q for j, f in enumerate(folds) if j != k for q in f], cols)
            cv.update({q: run(model, q, cols) for q in fold})
        model = fit(train, cols)
        full = {q: run(model, q, cols) for q in lab.qids}
        figures = " ".join(f"{s} {lab.ndcg(full, s):.4f}" for s in args.report)
        weights = ", ".join(f"{n} {w:+.2f}" for n, w in zip(SETS[name], model.weights, strict=True))
        print(
            f"{name} depth={args.depth}: CV-{args.train} {lab.ndcg(cv, args.train):.4f} "
            f"| fitted: {figures} | {weights}"
        )
        if args.save and name == "+sent":
            # the evidence reranker's columns, computed as retrieval.rerankers.evidence does
            saved = LinearModel(
                weights=model.weights,
                mean=model.mean,
                scale=model.scale,
                features=evidence.FEATURES,
                bias=model.bias,
                info={
                    "trained_on": f"{args.dataset}/{args.train} ({len(train)} queries)",
                    "depth": str(args.depth),
                    "l2": str(args.l2),
                    "fusion": "weighted w=0.5 minmax, 100 candidates per engine",
                    "trainer": "bench/evidence_lab.py linear",
                },
            )
            saved.save(args.save)
            print(f"wrote {args.save}")


def apply(args: argparse.Namespace) -> None:
    """A saved evidence model (``--model``) against the hybrid it reranks, on ``--split``."""
    lab = Lab(args.out_dir / f"{args.dataset}.pkl")
    model = LinearModel.load(args.model)
    fused = {q: lab.fused(q) for q in lab.qids}
    runs = {}
    for q, ranked in fused.items():
        head = ranked[: args.depth]
        scores = model.predict(lab.features(q, head)[:, : len(evidence.FEATURES)])
        runs[q] = lab.docrun(reorder(head, list(scores), ranked[args.depth :]))
    for split in args.split:
        hybrid = lab.ndcg({q: lab.docrun(r) for q, r in fused.items()}, split)
        print(
            f"{args.dataset}/{split}: hybrid {hybrid:.4f}, + evidence({args.model.name}) at depth "
            f"{args.depth} {lab.ndcg(runs, split):.4f}"
        )


def check(args: argparse.Namespace) -> None:
    """The lab's first ten columns equal the evidence reranker's own feature_matrix."""
    lab = Lab(args.out_dir / f"{args.dataset}.pkl")
    scorer = SentenceBM25()
    worst = 0.0
    cpu_ms: list[float] = []
    for q in lab.qids[: args.sample or 20]:
        ranked = lab.fused(q)[: args.depth]
        bm = {c: (s, i) for i, (c, s) in enumerate(lab.d["bm25"][q][:CANDIDATES], start=1)}
        de = {c: (s, i) for i, (c, s) in enumerate(lab.d["dense"][q][:CANDIDATES], start=1)}
        cands = []
        for rank, (c, score) in enumerate(ranked, start=1):
            stages = {Stage.FUSED: StageScore(score=score, rank=rank)}
            if c in bm:
                stages[Stage.BM25] = StageScore(score=bm[c][0], rank=bm[c][1])
            if c in de:
                stages[Stage.DENSE] = StageScore(score=de[c][0], rank=de[c][1])
            row = lab.d["chunks"][lab.cidx[c]]
            chunk = Chunk(
                id=c,
                document_id=row[1],
                source_id="eval",
                text=row[3],
                span=ChunkSpan(start=0, end=len(row[3])),
                title=row[2],
                acl=("public",),
                updated_at=EVAL_UPDATED_AT,
            )
            cands.append(Candidate(chunk, stages))
        query = RerankQuery(lab.d["queries"][q], lab.d["qvecs"][q])
        t0 = time.process_time()
        ours = evidence.feature_matrix(query, cands, scorer)  # what a query pays (no token cache)
        cpu_ms.append((time.process_time() - t0) * 1000)
        worst = max(worst, float(np.abs(ours - lab.features(q, ranked)[:, :10]).max()))
    print(f"max |lab - evidence.feature_matrix| over {args.sample or 20} queries: {worst:.2e}")
    print(
        f"evidence features at depth {args.depth}: CPU per query "
        f"p50 {np.median(cpu_ms):.1f} ms, max {max(cpu_ms):.1f} ms"
    )
    if worst > 1e-6:
        raise SystemExit("the lab's features differ from the reranker's: fix the lab before trusting it")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("dump", "blend", "linear", "apply", "check"))
    ap.add_argument("dataset")
    ap.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/gw-evidence-lab"))
    ap.add_argument("--split", nargs="+", default=["test"])
    ap.add_argument("--sample", type=int)
    ap.add_argument("--depth", type=int, default=50, help="dump: engine depth; others: rerank depth")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.2, 0.3, 0.4, 0.5])
    ap.add_argument("--train", default="train")
    ap.add_argument("--report", nargs="+", default=["train"])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--model", type=Path, help="apply: an evidence model file")
    ap.add_argument("--save", type=Path, help="linear: write the +sent model (the evidence reranker's)")
    args = ap.parse_args(argv)
    commands = {"dump": dump, "blend": blend, "linear": linear, "apply": apply, "check": check}
    commands[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
