"""``groundwork eval``: score a retrieval configuration on a BEIR-layout dataset.

The lead wires :func:`eval_command` into the Typer app (``app.command("eval")(eval_command)``);
its parameters are Typer-annotated. ``--json`` prints exactly one JSON object (metrics,
configuration, timing) on stdout; progress goes to stderr, so the output pipes into ``jq``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import GroundworkError
from core.settings import BackendMode, Settings, load_settings
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.configs import Engines, resolve_config
from retrieval.evaluation.runner import EvalReport, EvalSession


def run_eval(
    dataset: Path,
    *,
    split: str = "test",
    config: str = "default",
    server: bool = False,
    settings: Settings | None = None,
    quiet: bool = False,
) -> EvalReport:
    """Index ``dataset`` (embedded stores in a temp folder, or the configured servers) and score it."""
    base = settings or load_settings()
    if server:
        base = base.model_copy(
            update={"backend": base.backend.model_copy(update={"mode": BackendMode.SERVER})}
        )
        if not base.backend.qdrant_url or not base.backend.opensearch_url:
            raise GroundworkError(
                "--server needs GW_BACKEND__QDRANT_URL and GW_BACKEND__OPENSEARCH_URL to be set"
            )
    cfg = resolve_config(config)
    ds = load_beir(dataset, split)

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    with EvalSession(ds, settings=base, progress=say, dense=cfg.engines is not Engines.BM25) as session:
        return session.evaluate(cfg)


def format_report(report: EvalReport) -> str:
    m = report.metrics
    lines = [
        f"dataset   {report.dataset} ({report.split}): {report.queries} queries, "
        f"{report.documents} documents, {report.chunks} chunks, {report.backend}",
        f"config    {report.configuration['name']}: "
        + ", ".join(f"{k}={v}" for k, v in report.configuration.items() if k != "name"),
        "metrics   " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()),
        f"timing    index {report.timing['index_s']:.1f}s, "
        f"search p50 {report.timing['search_ms_p50']:.1f} ms, p95 {report.timing['search_ms_p95']:.1f} ms",
    ]
    return "\n".join(lines)


def eval_command(
    dataset: Annotated[Path, typer.Option("--dataset", help="BEIR-layout folder (corpus, queries, qrels/)")],
    split: Annotated[str, typer.Option("--split", help="qrels/<split>.tsv to score")] = "test",
    config: Annotated[
        str,
        typer.Option(
            "--config",
            help="bm25, dense, hybrid-rrf, hybrid-weighted, hybrid+<reranker>, "
            "default, or a .toml/.yaml file",
        ),
    ] = "default",
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    server: Annotated[
        bool, typer.Option("--server", help="index into the Qdrant/OpenSearch servers")
    ] = False,
) -> None:
    """Score a retrieval configuration: nDCG@10, recall@10/100, MRR@10, MAP (pytrec_eval)."""
    try:
        report = run_eval(dataset, split=split, config=config, server=server, quiet=json_output)
    except GroundworkError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if json_output:
        typer.echo(json.dumps(report.model_dump(mode="json"), sort_keys=True))
    else:
        typer.echo(format_report(report))


app = typer.Typer(add_completion=False, help="Retrieval evaluation")
app.command("eval")(eval_command)

if __name__ == "__main__":  # pragma: no cover
    app()
