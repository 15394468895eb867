"""The token promotion uses to notice server-mode writes into the live index during the gate.

In server mode other sources' incremental runs write into the live index through the aliases
without changing its generation id, so the id alone cannot tell promotion that the live index
changed while a candidate was evaluated outside the writer lock. The token is read from the
manifest (a real SQLite manifest here); only the backend's mode is read, so the backend is a
stand-in (a server backend would need Qdrant and OpenSearch, and is exercised by the server flow).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from core.settings import BackendMode
from pipelines.commit import commit_plan
from pipelines.manifest import Manifest
from pipelines.plans import ListingCounts, Stage
from pipelines.promotion import _live_writes
from pipelines.staging import PlanStore


def _backend(mode: BackendMode) -> Any:
    return cast(Any, SimpleNamespace(mode=mode))


def test_every_write_of_another_source_into_the_live_index_changes_the_token(tmp_path: Path) -> None:
    server = _backend(BackendMode.SERVER)
    with Manifest.for_data_dir(tmp_path) as manifest:
        before = _live_writes(server, manifest, "a")
        # source b's incremental run marks its documents dirty before its first write into live
        other = PlanStore(manifest, "b")
        plan = other.stage_new([], ListingCounts(), full=False, allow_mass_delete=False, run_id="run-b")
        other.mark_dirty(["b:doc-1"])
        writing = _live_writes(server, manifest, "a")
        assert writing != before
        # this source's own marks are not someone else's writes
        PlanStore(manifest, "a").mark_dirty(["a:doc-1"])
        assert _live_writes(server, manifest, "a") == writing
        # b commits: the dirty marks go, its run is recorded; the token differs from both
        other.advance(Stage.WRITTEN, target="live")
        staged = other.current()
        assert staged is not None
        assert staged.plan_id == plan.plan_id
        commit_plan(manifest, other, staged, generation_id=None, run_id="run-b")
        committed = _live_writes(server, manifest, "a")
        assert committed not in (before, writing)
        assert _live_writes(server, manifest, "a") == committed  # stable while nothing is written


def test_embedded_mode_needs_no_token(tmp_path: Path) -> None:
    # embedded runs never write into the live generation: a change is always a new generation id
    with Manifest.for_data_dir(tmp_path) as manifest:
        PlanStore(manifest, "b").mark_dirty(["b:doc-1"])
        assert _live_writes(_backend(BackendMode.EMBEDDED), manifest, "a") == ()
