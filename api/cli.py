"""The ``groundwork`` command line.

Subcommands are thin: they build settings, call one function of the layer that owns the work,
and print. Errors Groundwork raises on purpose become a one-line message and exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from core.errors import GroundworkError
from core.settings import Settings, load_settings

app = typer.Typer(
    name="groundwork",
    help="Retrieval-first knowledge agent: ingest, search and ask with grounded citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="settings file (TOML/YAML); default: $GW_CONFIG_FILE"),
]


def settings_from(config: Path | None) -> Settings:
    """Settings with ``--config`` taking the place of ``GW_CONFIG_FILE``."""
    import os

    if config is not None:
        os.environ["GW_CONFIG_FILE"] = str(config)
    return load_settings()


def run_or_exit(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn a deliberate Groundwork error into a clear message and exit code 2."""
    try:
        return fn()
    except GroundworkError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


@app.callback()
def _root() -> None:
    """Groundwork: ingest sources, search and ask with grounded, access-controlled citations."""


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check the installation: settings, the offline model, parsing, and the embedded engines."""
    from api.doctor import run_checks

    settings = run_or_exit(lambda: settings_from(config))
    table = Table(title="groundwork doctor")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    failed = 0
    for check in run_checks(settings):
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAIL[/]", check.detail)
        failed += not check.ok
    console.print(table)
    if failed:
        err_console.print(f"[bold red]{failed} check(s) failed[/]")
        raise typer.Exit(1)
    console.print("[green]Groundwork is installed and works offline.[/]")


QuestionArg = Annotated[str, typer.Argument(help="the question, in plain words")]
UserOption = Annotated[str, typer.Option("--user", "-u", help="user id from the users file")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]
TopKOption = Annotated[int | None, typer.Option("--top-k", min=1, help="results to return")]


@app.command()
def ingest(
    source: Annotated[str | None, typer.Option("--source", "-s", help="one source id")] = None,
    full: Annotated[bool, typer.Option("--full", help="rebuild a new generation from scratch")] = False,
    allow_mass_delete: Annotated[
        bool, typer.Option("--allow-mass-delete", help="let a run delete more than the guard allows")
    ] = False,
    allow_regression: Annotated[
        bool,
        typer.Option(
            "--allow-regression", help="promote a new generation even if the promotion gate blocks it"
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run the ingest assets in-process (same assets as the Dagster UI) with a progress bar."""
    # The CLI is the composition root: it may reach the pipelines, which nothing else imports.
    from pipelines.ingest import ingest_command

    settings = run_or_exit(lambda: settings_from(config))
    code = run_or_exit(
        lambda: ingest_command(
            settings, source, full, allow_mass_delete, console, allow_regression=allow_regression
        )
    )
    raise typer.Exit(code)


@app.command()
def failures(
    source: Annotated[str | None, typer.Option("--source", "-s", help="one source id")] = None,
    config: ConfigOption = None,
) -> None:
    """List documents that could not be indexed, with the reason."""
    from pipelines.ingest import failures_command

    settings = run_or_exit(lambda: settings_from(config))
    raise typer.Exit(run_or_exit(lambda: failures_command(settings, source, console)))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default api.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default api.port)")] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    from api.commands import serve as serve_api

    settings = run_or_exit(lambda: settings_from(config))
    run_or_exit(lambda: serve_api(settings, host, port))


@app.command()
def ask(
    question: QuestionArg,
    user: UserOption,
    top_k: TopKOption = None,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Answer a question as a user, with citations (or a refusal that says what was searched)."""
    from api.commands import ask as ask_agent
    from api.commands import render_answer

    settings = run_or_exit(lambda: settings_from(config))
    result = run_or_exit(lambda: ask_agent(settings, question, user, top_k=top_k))
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
    else:
        console.print(render_answer(result), markup=False, highlight=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="search text")],
    user: UserOption,
    top_k: TopKOption = None,
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Hybrid search as a user: ranked passages with every stage's score."""
    from api.commands import search as search_index

    settings = run_or_exit(lambda: settings_from(config))
    response = run_or_exit(lambda: search_index(settings, query, user, top_k=top_k))
    if json_output:
        typer.echo(response.model_dump_json(indent=2))
        return
    table = Table(title=f"{query!r} as {user}")
    for col in ("#", "title", "score", "passage"):
        table.add_column(col, overflow="fold")
    for i, passage in enumerate(response.passages, start=1):
        table.add_row(str(i), passage.title, f"{passage.score:.3f}", passage.text[:200])
    console.print(table)


@app.command("eval")
def eval_(
    golden_file: Annotated[
        Path | None,
        typer.Argument(
            help="with --golden: the golden set (default evaluation.golden_file, else examples/golden.yaml)",
            show_default=False,
        ),
    ] = None,
    golden: Annotated[
        bool, typer.Option("--golden", help="answer-level suite: ask the golden set against the live index")
    ] = False,
    users: Annotated[
        list[str] | None,
        typer.Option("--user", "-u", help="with --golden: only this user's items (repeatable)"),
    ] = None,
    dataset: Annotated[
        Path | None, typer.Option("--dataset", help="BEIR-layout folder (corpus, queries, qrels/)")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="qrels/<split>.tsv to score")] = "test",
    retrieval_config: Annotated[
        str,
        typer.Option(
            "--config",
            help="bm25, dense, hybrid-rrf, hybrid-weighted, hybrid+<reranker>, "
            "default, or a .toml/.yaml file",
        ),
    ] = "default",
    json_output: JsonOption = False,
    server: Annotated[
        bool, typer.Option("--server", help="index into the Qdrant/OpenSearch servers")
    ] = False,
) -> None:
    """Score retrieval on a BEIR dataset (--dataset), or answers on the golden set (--golden)."""
    if not golden:
        if golden_file is not None or users:
            err_console.print("[bold red]error:[/] a FILE and --user go with --golden")
            raise typer.Exit(2)
        if dataset is None:
            err_console.print(
                "[bold red]error:[/] pass --dataset DIR (a BEIR-layout folder) for retrieval metrics, "
                "or --golden [FILE] for the answer-level suite"
            )
            raise typer.Exit(2)
        # retrieval.evaluation owns the retrieval harness; the api layer only dispatches
        from retrieval.evaluation.cli import eval_command

        eval_command(dataset, split, retrieval_config, json_output, server)
        return
    if dataset is not None:
        err_console.print("[bold red]error:[/] --golden and --dataset are separate suites: pass one")
        raise typer.Exit(2)
    from api.commands import golden_eval

    settings = run_or_exit(lambda: settings_from(None))
    report = run_or_exit(lambda: golden_eval(settings, golden_file, users=users or ()))
    if json_output:
        typer.echo(report.model_dump_json())
    else:
        console.print(report.to_table(), markup=False, highlight=False)
    if report.hard_failures():
        raise typer.Exit(1)


def _register_tune() -> None:
    """``groundwork tune``: the retrieval tuning sweep (owned by retrieval.evaluation.tune)."""
    from retrieval.evaluation.tune import tune_command

    app.command("tune")(tune_command)


_register_tune()
