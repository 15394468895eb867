"""How stages report progress: to a rich progress bar (the CLI), or to nobody (Dagster runs).

Stages call :meth:`ProgressObserver.stage` when they start a unit of work with a known size and
:meth:`ProgressObserver.advance` as they go; they never print. Dagster gets its numbers from
asset metadata instead.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias

Metadata: TypeAlias = dict[str, str | int | float | bool]
"""What stage reports hand to Dagster as asset metadata (plain values only)."""


class ProgressObserver(Protocol):
    def stage(self, source_id: str, stage: str, total: int | None) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class SilentProgress:
    """The observer of runs nobody watches."""

    def stage(self, source_id: str, stage: str, total: int | None) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None
