"""Evaluate retrieval configurations on the shared BEIR-layout datasets; print a Markdown table.

    uv run python bench/eval_all.py                       # every dataset, the standard rows
    uv run python bench/eval_all.py --datasets scifact --configs bm25 dense default
    uv run python bench/eval_all.py --out bench/results/retrieval.jsonl
    uv run python bench/eval_all.py --datasets scifact --split train test --configs ...  # indexed once

Each dataset is indexed once through the real index layer (Qdrant Edge + tantivy in a temp
folder) and every configuration re-ranks the same engine lists (see retrieval.evaluation.runner).
Embeddings come from the shared cache (``~/.cache/groundwork/embeddings``): the first run on a
corpus embeds it, later runs embed nothing. The rows of docs/benchmarks.md come from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.settings import Settings
from retrieval.evaluation.beir import load_beir, merge_splits
from retrieval.evaluation.configs import resolve_config
from retrieval.evaluation.runner import EvalReport, evaluate_configs

DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_DATASETS = ("scifact", "cranfield", "cisi", "medline", "hotpotqa_dev500")
DEFAULT_CONFIGS = (
    "bm25",
    "dense",
    "hybrid-rrf",
    "hybrid-weighted",
    "hybrid+maxsim",
    "hybrid+linear",
    "default",
)


def table(reports: list[EvalReport]) -> str:
    head = "| dataset | split | config | nDCG@10 | R@10 | R@100 | MRR@10 | MAP | p50 ms | p95 ms |"
    rows = [head, "|" + "---|" * 10]
    for r in reports:
        m = r.metrics
        rows.append(
            f"| {r.dataset} | {r.split} | {r.configuration['name']} | {m['ndcg@10']:.4f} "
            f"| {m['recall@10']:.4f} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} | {m['map']:.4f} "
            f"| {r.timing['search_ms_p50']:.1f} | {r.timing['search_ms_p95']:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    ap.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS))
    ap.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    ap.add_argument(
        "--split", nargs="+", default=["test"], help="one or more splits, indexed once and scored apart"
    )
    ap.add_argument("--sample", type=int, help="a seeded random sample of this many queries per split")
    ap.add_argument("--out", type=Path, help="append one JSON line per report")
    args = ap.parse_args(argv)
    configs = [resolve_config(c) for c in args.configs]
    settings = Settings()
    reports: list[EvalReport] = []
    for name in args.datasets:
        t0 = time.perf_counter()
        parts = [load_beir(args.datasets_dir / name, split) for split in args.split]
        if args.sample:
            parts = [p.sample(args.sample) for p in parts]
        ds = merge_splits(parts) if len(parts) > 1 else parts[0]

        def keep(r: EvalReport) -> None:
            m = r.metrics
            print(
                f"{r.dataset}/{r.split} {r.configuration['name']}: nDCG@10 {m['ndcg@10']:.4f} "
                f"R@100 {m['recall@100']:.4f} MRR@10 {m['mrr@10']:.4f}",
                file=sys.stderr,
                flush=True,
            )
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                with args.out.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r.model_dump(mode="json"), sort_keys=True) + "\n")

        got = evaluate_configs(
            ds,
            configs,
            settings=settings,
            progress=lambda m: print(m, file=sys.stderr, flush=True),
            splits={p.split: p.qrels for p in parts} if len(parts) > 1 else None,
            on_report=keep,
        )
        reports.extend(got)
        print(table(got), file=sys.stderr, flush=True)
        print(f"{name}: {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    print(table(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
