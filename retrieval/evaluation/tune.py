"""``groundwork tune``: the tuning sweep on a BEIR-layout dataset, from the command line.

Prints the ranked table (the same as the ``tuning_sweep`` asset's) and why the winner wins, and
writes the recommended settings file (a ``[retrieval]`` table, loadable with ``GW_CONFIG_FILE``).
``--json`` prints one JSON object (the sweep, the recommendation, the file's path) on stdout;
progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import ConfigurationError, GroundworkError
from core.settings import Settings, SweepSettings, load_settings
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.sweep import SweepResult, recommended_toml, run_sweep, write_recommended


def _ints(text: str | None, what: str) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigurationError(f"--{what} takes comma-separated integers, e.g. 50,100,200") from None


def _strs(text: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in text.split(",") if v.strip()) if text else None


def grid_from(
    base: SweepSettings,
    *,
    rerankers: str | None = None,
    candidates: str | None = None,
    caps: str | None = None,
    metric: str | None = None,
    chunk_sizes: str | None = None,
) -> SweepSettings:
    """``base`` with the command line's overrides."""
    update: dict[str, object] = {}
    if (r := _strs(rerankers)) is not None:
        update["rerankers"] = r
    if (c := _ints(candidates, "candidates")) is not None:
        update["candidates"] = c
    if (p := _ints(caps, "caps")) is not None:
        update["per_document_cap"] = p
    if (z := _ints(chunk_sizes, "chunk-sizes")) is not None:
        update["chunk_max_tokens"] = z
    if metric:
        update["metric"] = metric
    return SweepSettings.model_validate({**base.model_dump(), **update})


def default_out(settings: Settings, dataset: str, split: str) -> Path:
    return Path(settings.backend.data_dir) / "evaluation" / "tune" / f"{dataset}-{split}.toml"


def run_tune(
    dataset: Path,
    *,
    split: str = "train",
    out: Path | None = None,
    force_test: bool = False,
    grid: SweepSettings | None = None,
    settings: Settings | None = None,
    quiet: bool = False,
) -> tuple[SweepResult, Path]:
    """Index ``dataset`` once, sweep the grid on ``split``, write the recommendation to ``out``."""
    base = settings or load_settings()
    ds = load_beir(dataset, split)

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    result = run_sweep(ds, settings=base, grid=grid or base.evaluation.sweep, force=force_test, progress=say)
    path = write_recommended(result, out or default_out(base, ds.name, split))
    return result, path


def tune_command(
    dataset: Annotated[Path, typer.Option("--dataset", help="BEIR-layout folder (corpus, queries, qrels/)")],
    split: Annotated[str, typer.Option("--split", help="the tuning split (qrels/<split>.tsv)")] = "train",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="recommended settings file (default <data_dir>/evaluation/tune/)"),
    ] = None,
    rerankers: Annotated[
        str | None, typer.Option("--rerankers", help="comma-separated, e.g. none,maxsim")
    ] = None,
    candidates: Annotated[str | None, typer.Option("--candidates", help="depths, e.g. 50,100,200")] = None,
    caps: Annotated[str | None, typer.Option("--caps", help="per-document caps, e.g. 1,2,3")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="ranking metric (default ndcg@10)")] = None,
    chunk_sizes: Annotated[
        str | None,
        typer.Option(
            "--chunk-sizes",
            help="chunking.max_tokens values beside the current one, e.g. 128,384 (each re-chunks "
            "and re-embeds the corpus)",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="rows of the table to print")] = 20,
    force_test: Annotated[
        bool, typer.Option("--force-test", help="tune on a reported split anyway (overfits it)")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Sweep fusion, candidate depth, reranker and per-document cap on a tuning split; write the winner."""
    try:
        settings = load_settings()
        grid = grid_from(
            settings.evaluation.sweep,
            rerankers=rerankers,
            candidates=candidates,
            caps=caps,
            metric=metric,
            chunk_sizes=chunk_sizes,
        )
        result, path = run_tune(
            dataset,
            split=split,
            out=out,
            force_test=force_test,
            grid=grid,
            settings=settings,
            quiet=json_output,
        )
    except GroundworkError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if json_output:
        payload = {
            "sweep": result.model_dump(mode="json"),
            "recommended": result.best.retrieval,
            "recommended_file": str(path),
        }
        typer.echo(json.dumps(payload, sort_keys=True))
        return
    typer.echo(result.table(top))
    typer.echo("")
    typer.echo(result.summary())
    typer.echo(
        f"sweep wall time {result.wall_s:.1f}s ({len(result.rows)} points); recommended settings "
        f"written to {path}:"
    )
    typer.echo(recommended_toml(result).rstrip())
