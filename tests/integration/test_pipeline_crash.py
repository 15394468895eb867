"""Crash safety: kill a run anywhere, and the next run converges.

"Converges" means: the next run succeeds, both stores hold exactly the manifest's chunks (no
missing, orphan or duplicate chunk), every chunk carries its document's current ACL, the manifest
equals what a run that never crashed produces, and one more run finds nothing to do.

Kill points are named failpoints (pipelines/failpoints.py). A child process is SIGKILLed at the
points where the process dying matters most (files half-written, nothing flushed); the other
points raise inside this process, which is the only way to crash a server-mode run whose Qdrant
is qdrant-client's ``:memory:`` (it dies with its process).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.embedding import Embedder
from core.settings import Settings, load_settings
from index.keywords_opensearch import opensearch_client
from pipelines import failpoints
from pipelines.audit import audit_acl, audit_stores
from pipelines.backends import open_backend
from pipelines.ingest import run_ingest
from pipelines.manifest import Manifest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "pipeline" / "corpus"


def make_settings(root: Path, embedder: Embedder, backend: dict[str, Any]) -> Settings:
    return load_settings(
        backend={"data_dir": str(root / "var"), **backend},
        embedding=embedder.settings.model_dump(),
        pipeline={"sources": [{"id": "office", "kind": "folder", "path": str(root / "corpus")}]},
    )


def change(corpus: Path, marker: str) -> None:
    """A run with every kind of write: a changed, an added, a deleted document and an ACL change."""
    kettle = corpus / "guides" / "kettle.md"
    kettle.write_text(kettle.read_text() + f"\n\nThe descaler brand {marker} works too.\n")
    (corpus / "guides" / "coffee.md").write_text(
        f"# Coffee machine {marker}\n\nBeans go in the top hopper.\n"
    )
    (corpus / "guides" / "plants.md").unlink()
    (corpus / "guides" / "bikes.txt.meta.yaml").write_text("read: [group:staff, group:cyclists]\n")


def state(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The manifest's view: document locator -> sorted chunk ids (plus its ACL)."""
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        docs = manifest.documents("office")
        return {
            d.locator: (*sorted(manifest.chunk_ids(document_id=d.document_id)), *d.acl) for d in docs.values()
        }


def assert_converged(settings: Settings, expected: dict[str, tuple[str, ...]]) -> None:
    backend = open_backend(settings)
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        stores = audit_stores(backend, manifest, "office")
        assert stores.passed, stores.description
        acl = audit_acl(backend, manifest, "office")
        assert acl.passed, acl.description
    assert state(settings) == expected
    again = run_ingest(settings).source("office")
    assert again.status == "ok"
    assert again.summary is not None
    assert (again.summary.chunks_written, again.summary.chunks_embedded, again.summary.changed) == (0, 0, 0)


@dataclass
class Scenario:
    settings: Settings
    root: Path
    expected: dict[str, tuple[str, ...]]


@pytest.fixture(scope="module")
def marker() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An embedded deployment after one clean run (of the unchanged corpus)."""
    root = tmp_path_factory.mktemp("crash-baseline")
    shutil.copytree(CORPUS, root / "corpus")
    settings = make_settings(root, embedder, {"mode": "embedded"})
    first = run_ingest(settings, embedder=embedder)
    assert first.ok, first.sources
    return root


@pytest.fixture(scope="module")
def expected(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, marker: str
) -> dict[str, tuple[str, ...]]:
    """What a run that never crashed leaves after the change (its vectors also warm the cache)."""
    root = tmp_path_factory.mktemp("crash-reference")
    shutil.copytree(CORPUS, root / "corpus")
    change(root / "corpus", marker)
    settings = make_settings(root, embedder, {"mode": "embedded"})
    assert run_ingest(settings, embedder=embedder).ok
    return state(settings)


@pytest.fixture
def scenario(
    baseline: Path, tmp_path: Path, embedder: Embedder, marker: str, expected: dict[str, tuple[str, ...]]
) -> Scenario:
    """A private copy of the baseline deployment, with the corpus changed (the run to crash)."""
    root = tmp_path / "deployment"
    shutil.copytree(baseline, root, ignore=shutil.ignore_patterns("*.lock"))
    change(root / "corpus", marker)
    return Scenario(make_settings(root, embedder, {"mode": "embedded"}), root, expected)


@pytest.mark.parametrize(
    "point", ["after-generation-created", "between-stores", "mid-write", "before-promote", "after-promote"]
)
def test_sigkill_during_an_embedded_run_then_the_next_run_converges(scenario: Scenario, point: str) -> None:
    settings_file = scenario.root / "settings.json"
    settings_file.write_text(scenario.settings.model_dump_json())
    env = {**os.environ, failpoints.ENV: point}
    child = subprocess.run(
        [sys.executable, "-m", "tests.fixtures.pipeline.ingest_subprocess", str(settings_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout[-2000:], child.stderr[-4000:])
    recovered = run_ingest(scenario.settings).source("office")
    assert recovered.status == "ok", recovered.error
    assert recovered.checks_passed, recovered.checks
    assert_converged(scenario.settings, scenario.expected)


@pytest.mark.parametrize("point", ["after-listing", "after-parse", "after-chunk", "after-commit"])
def test_crash_in_process_at_other_points_converges(
    scenario: Scenario, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(failpoints.ENV, f"{point}:1:raise")
    failpoints.reset()
    crashed = run_ingest(scenario.settings).source("office")
    assert crashed.status == "failed"
    assert crashed.error is not None
    assert "failpoint" in crashed.error
    monkeypatch.delenv(failpoints.ENV)
    recovered = run_ingest(scenario.settings).source("office")
    assert recovered.status == "ok", recovered.error
    assert_converged(scenario.settings, scenario.expected)


@pytest.mark.parametrize("point", ["between-stores", "mid-write", "after-commit"])
def test_crash_while_writing_into_a_live_server_index_converges(
    tmp_path: Path,
    embedder: Embedder,
    opensearch_url: str,
    marker: str,
    expected: dict[str, tuple[str, ...]],
    point: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Server mode writes into the live generation: the dirty-document journal repairs a partial write."""
    index = f"gwtest-crash-{uuid.uuid4().hex[:8]}"
    shutil.copytree(CORPUS, tmp_path / "corpus")
    settings = make_settings(
        tmp_path,
        embedder,
        {"mode": "server", "qdrant_url": ":memory:", "opensearch_url": opensearch_url, "index_name": index},
    )
    try:
        assert run_ingest(settings, embedder=embedder).ok
        change(tmp_path / "corpus", marker)
        monkeypatch.setenv(failpoints.ENV, f"{point}:1:raise")
        failpoints.reset()
        crashed = run_ingest(settings).source("office")
        assert crashed.status == "failed"
        monkeypatch.delenv(failpoints.ENV)
        recovered = run_ingest(settings).source("office")
        assert recovered.status == "ok", recovered.error
        assert_converged(settings, expected)
    finally:
        opensearch_client(opensearch_url).indices.delete(
            index=f"{index}__*", params={"ignore_unavailable": "true"}
        )
