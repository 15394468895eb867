"""The mass-delete guard: a listing that would wipe a source stops the run before any deletion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.settings import Settings, load_settings
from pipelines.backends import open_backend
from pipelines.ingest import run_ingest
from pipelines.manifest import Manifest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline" / "corpus"


def settings_for(root: Path, embedder: Embedder) -> Settings:
    return load_settings(
        backend={"data_dir": str(root / "var")},
        embedding=embedder.settings.model_dump(),
        pipeline={"sources": [{"id": "office", "kind": "folder", "path": str(root / "corpus")}]},
    )


def store_ids(settings: Settings) -> tuple[set[str], set[str]]:
    with open_backend(settings).readers() as stores:
        assert stores is not None
        return stores[0].chunk_ids(source_id="office"), stores[1].chunk_ids(source_id="office")


@pytest.mark.parametrize("left", ["sidecars", "nothing"])
def test_emptying_a_source_stops_before_deleting(tmp_path: Path, embedder: Embedder, left: str) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    settings = settings_for(tmp_path, embedder)
    assert run_ingest(settings, embedder=embedder).ok
    before = store_ids(settings)
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        indexed = manifest.document_count("office")
    assert indexed == 6
    assert before[0]
    assert before[0] == before[1]

    for path in sorted((tmp_path / "corpus").rglob("*"), reverse=True):
        if path.is_file() and (left == "nothing" or path.suffix in (".md", ".txt")):
            path.unlink()  # a broken sync: only the ACL sidecars left, or an empty folder
        elif path.is_dir() and left == "nothing":
            path.rmdir()
    assert (tmp_path / "corpus").is_dir()
    stopped = run_ingest(settings).source("office")
    assert stopped.status == "stopped"
    assert stopped.error is not None
    assert "would delete 6 of its 6 indexed documents (100%)" in stopped.error
    assert "--allow-mass-delete" in stopped.error
    assert store_ids(settings) == before  # nothing deleted in either store
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        assert manifest.document_count("office") == 6

    allowed = run_ingest(settings, allow_mass_delete=True).source("office")
    assert allowed.status == "ok", allowed.error
    assert allowed.summary is not None
    assert allowed.summary.deleted == 6
    assert store_ids(settings) == (set(), set())
    assert allowed.checks_passed, allowed.checks


def test_a_missing_folder_fails_the_run_and_deletes_nothing(tmp_path: Path, embedder: Embedder) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    settings = settings_for(tmp_path, embedder)
    assert run_ingest(settings, embedder=embedder).ok
    before = store_ids(settings)
    shutil.move(tmp_path / "corpus", tmp_path / "unmounted")
    failed = run_ingest(settings).source("office")
    assert failed.status == "failed"
    assert failed.error is not None
    assert "does not exist" in failed.error
    assert store_ids(settings) == before


def test_deleting_a_minority_goes_through(tmp_path: Path, embedder: Embedder) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    settings = settings_for(tmp_path, embedder)
    assert run_ingest(settings, embedder=embedder).ok
    (tmp_path / "corpus" / "guides" / "plants.md").unlink()
    (tmp_path / "corpus" / "guides" / "bikes.txt").unlink()
    (tmp_path / "corpus" / "private" / "alarm.txt").unlink()  # 3 of 6: at the 50% limit, allowed
    run = run_ingest(settings).source("office")
    assert run.status == "ok", run.error
    assert run.summary is not None
    assert run.summary.deleted == 3
