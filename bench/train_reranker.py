"""Train the learned linear reranker (retrieval.rerankers.learned) on judged queries.

    uv run python bench/train_reranker.py                       # SciFact train -> packaged weights
    uv run python bench/train_reranker.py --train cranfield:test --out /tmp/linear.json

Each ``--train NAME:SPLIT`` dataset is indexed through the real index layer, its queries run
through the hybrid retriever (the ``--config`` fusion, no reranker), and the fused top
``--depth`` candidates become training rows (retrieval.evaluation.training). The weights land in
``retrieval/rerankers/weights/linear_minilm_scifact.json`` by default, which is what
``retrieval.reranker = "linear"`` loads.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from core.settings import Settings
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.configs import resolve_config
from retrieval.evaluation.runner import EvalSession
from retrieval.evaluation.training import train_linear
from retrieval.rerankers.learned import PACKAGED_WEIGHTS

DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    ap.add_argument("--train", action="append", default=[], help="NAME:SPLIT (default scifact:train)")
    ap.add_argument("--config", default="hybrid-weighted")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=PACKAGED_WEIGHTS)
    args = ap.parse_args(argv)
    config = resolve_config(args.config)
    settings = Settings()
    with ExitStack() as stack:
        sessions = []
        for spec in args.train or ["scifact:train"]:
            name, _, split = spec.partition(":")
            ds = load_beir(args.datasets_dir / name, split or "test")
            sessions.append(
                stack.enter_context(
                    EvalSession(
                        ds, settings=settings, progress=lambda m: print(m, file=sys.stderr, flush=True)
                    )
                )
            )
        model = train_linear(sessions, config, depth=args.depth, l2=args.l2)
    model.save(args.out)
    print(f"wrote {args.out}: {model.info}")
    for name, w in zip(model.features, model.weights, strict=True):
        print(f"  {name:14s} {w:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
