"""Sweep fusion settings on tuning sets (never on a test split you report).

    uv run python bench/tune_fusion.py --datasets medline adi --split test
    uv run python bench/tune_fusion.py --datasets scifact --split train

Each dataset is indexed once; every variant replays the same engine lists (cheap). Prints
nDCG@10 per variant and dataset, and the mean, as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.settings import FusionMethod, Settings
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.configs import EvalConfig
from retrieval.evaluation.runner import EvalSession
from retrieval.fusion import Normalization

DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def variants(candidates: int) -> list[EvalConfig]:
    out = [
        EvalConfig(name=f"rrf k={k}", fusion=FusionMethod.RRF, rrf_k=k, candidates=candidates)
        for k in (10, 30, 60, 100)
    ]
    for norm in (Normalization.MINMAX, Normalization.ZSCORE):
        for w in (0.3, 0.4, 0.5, 0.6, 0.7):
            out.append(
                EvalConfig(
                    name=f"{norm.value} w={w}", normalization=norm, dense_weight=w, candidates=candidates
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    ap.add_argument("--datasets", nargs="+", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--candidates", type=int, nargs="+", default=[100])
    ap.add_argument("--metric", default="ndcg@10")
    args = ap.parse_args(argv)
    table: dict[str, dict[str, float]] = {}
    for name in args.datasets:
        ds = load_beir(args.datasets_dir / name, args.split)
        with EvalSession(ds, settings=Settings(), progress=lambda m: print(m, file=sys.stderr)) as s:
            for depth in args.candidates:
                for cfg in variants(depth):
                    key = f"{cfg.name} n={depth}"
                    table.setdefault(key, {})[name] = s.evaluate(cfg).metrics[args.metric]
    names = list(args.datasets)
    print(f"| variant | {' | '.join(names)} | mean |")
    print("|---|" + "---|" * (len(names) + 1))
    for key, row in table.items():
        mean = sum(row.values()) / len(row)
        print(f"| {key} | " + " | ".join(f"{row[n]:.4f}" for n in names) + f" | {mean:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
