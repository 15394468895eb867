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
