"""Train the learned linear reranker (retrieval.rerankers.learned) on judged queries.

    uv run python bench/train_reranker.py                       # SciFact train -> packaged weights
    uv run python bench/train_reranker.py --train cranfield:test --out /tmp/linear.json
    uv run python bench/train_reranker.py --kind evidence      # -> packaged evidence weights

Each ``--train NAME:SPLIT`` dataset is indexed through the real index layer, its queries run
through the hybrid retriever (the ``--config`` fusion, no reranker), and the fused top
``--depth`` candidates become training rows (retrieval.evaluation.training). The weights land in
``retrieval/rerankers/weights/linear_minilm_scifact.json`` by default, which is what
``retrieval.reranker = "linear"`` loads.

``--eval-split test --eval-configs ...`` indexes the training split and that split together
(one index build), trains on the training queries only, then scores every configuration on
both splits (JSON lines to ``--results``); ``linear:<--out>`` in a configuration file is the
model just trained. With one ``--train`` dataset only.

    uv run python bench/train_reranker.py --sample 200 --depth 20 \
        --out bench/results/linear_scifact_train200_d20.json --eval-split test \
        --eval-configs hybrid-weighted bench/results/configs/maxsim-w0.5-d20.toml \
        bench/results/configs/linear-d20.toml --results bench/results/retrieval.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from core.settings import Settings
from retrieval.evaluation.beir import load_beir, merge_splits
from retrieval.evaluation.configs import resolve_config
from retrieval.evaluation.runner import EvalSession
from retrieval.evaluation.training import Featurizer, train_linear
from retrieval.evidence import SentenceBM25
from retrieval.rerankers import evidence
from retrieval.rerankers.base import Candidate, RerankQuery
from retrieval.rerankers.learned import FEATURES, PACKAGED_WEIGHTS, Matrix


def featurizer(kind: str) -> tuple[Featurizer | None, tuple[str, ...], Path]:
    """The feature rows, their names and the default output of a reranker kind."""
    if kind == "evidence":
        sentences = SentenceBM25()

        def rows(query: RerankQuery, candidates: Sequence[Candidate]) -> Matrix:
            return evidence.feature_matrix(query, candidates, sentences)

        return rows, evidence.FEATURES, evidence.PACKAGED_WEIGHTS
    return None, FEATURES, PACKAGED_WEIGHTS


DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    ap.add_argument("--train", action="append", default=[], help="NAME:SPLIT (default scifact:train)")
    ap.add_argument("--config", default="hybrid-weighted")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--sample", type=int, help="a seeded random sample of this many training queries")
    ap.add_argument(
        "--kind", choices=("linear", "evidence"), default="linear", help="which reranker to train"
    )
    ap.add_argument("--out", type=Path, help="default: the kind's packaged weights file")
    ap.add_argument("--eval-split", help="also index this split and score --eval-configs on both")
    ap.add_argument("--eval-configs", nargs="*", default=[])
    ap.add_argument("--results", type=Path, help="append the reports as JSON lines")
    args = ap.parse_args(argv)
    args.featurize, args.features, default_out = featurizer(args.kind)
    args.out = args.out or default_out
    if args.eval_split:
        return train_and_evaluate(args)
    config = resolve_config(args.config)
    settings = Settings()
    with ExitStack() as stack:
        sessions = []
        for spec in args.train or ["scifact:train"]:
            name, _, split = spec.partition(":")
            ds = load_beir(args.datasets_dir / name, split or "test")
            if args.sample:
                ds = ds.sample(args.sample)
            sessions.append(
                stack.enter_context(
                    EvalSession(
                        ds, settings=settings, progress=lambda m: print(m, file=sys.stderr, flush=True)
                    )
                )
            )
        model = train_linear(
            sessions, config, depth=args.depth, l2=args.l2, featurize=args.featurize, features=args.features
        )
    model.save(args.out)
    print(f"wrote {args.out}: {model.info}")
    for name, w in zip(model.features, model.weights, strict=True):
        print(f"  {name:14s} {w:+.3f}")
    return 0


def train_and_evaluate(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    specs = args.train or ["scifact:train"]
    if len(specs) != 1:
        raise SystemExit("--eval-split works with one --train dataset")
    name, _, split = specs[0].partition(":")
    train = load_beir(args.datasets_dir / name, split or "train")
    if args.sample:
        train = train.sample(args.sample)
    held = load_beir(args.datasets_dir / name, args.eval_split)
    config = resolve_config(args.config)
    with EvalSession(merge_splits([train, held]), settings=Settings(), progress=say) as session:
        model = train_linear(
            [session],
            config,
            depth=args.depth,
            l2=args.l2,
            query_ids=[sorted(train.queries)],
            featurize=args.featurize,
            features=args.features,
        )
        # the session holds both splits; the model saw only the training queries
        model.info["trained_on"] = f"{train.name}/{train.split} ({len(train.queries)} queries)"
        model.save(args.out)
        say(f"wrote {args.out}: {model.info}")
        for feature, w in zip(model.features, model.weights, strict=True):
            say(f"  {feature:14s} {w:+.3f}")
        splits = {train.split: train.qrels, held.split: held.qrels}
        for spec in args.eval_configs:
            for r in session.reports(resolve_config(spec), splits):
                m = r.metrics
                print(
                    f"{r.dataset}/{r.split} {r.configuration['name']}: nDCG@10 {m['ndcg@10']:.4f} "
                    f"R@100 {m['recall@100']:.4f} MRR@10 {m['mrr@10']:.4f} queries {r.queries} "
                    f"p50 {r.timing['search_ms_p50']:.0f} ms",
                    flush=True,
                )
                if args.results:
                    with args.results.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(r.model_dump(mode="json"), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
