"""Shared fixtures: real small things (the packaged model, temp engines), never mocks of our classes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.settings import EmbeddingSettings

REPO = Path(__file__).resolve().parents[1]


def _shared_datasets() -> Path:
    """``GW_SHARED_DATASETS``, else ``../shared/datasets`` beside this checkout or, for a clone
    (CI clones the working checkout elsewhere), beside the checkout it was cloned from."""
    if os.environ.get("GW_SHARED_DATASETS"):
        return Path(os.environ["GW_SHARED_DATASETS"])
    candidates = [REPO.parent / "shared" / "datasets"]
    origin = subprocess.run(
        ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if origin and Path(origin).is_dir():  # a local path, not a URL
        candidates.append(Path(origin).resolve().parent / "shared" / "datasets")
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_DATASETS = _shared_datasets()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2, loaded once per test session, with the shared cache.

    The cache lives outside the clone (``~/.cache/groundwork/embeddings`` unless
    ``GW_EMBEDDING__CACHE_DIR`` says otherwise), so a corpus is never embedded twice.
    """
    cache = os.environ.get("GW_EMBEDDING__CACHE_DIR")
    settings = EmbeddingSettings(cache_dir=Path(cache)) if cache else EmbeddingSettings()
    return Embedder(settings)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    """URL of a real OpenSearch node (never an emulator), from ``GW_TEST_OPENSEARCH_URL``.

    ``.ci/run`` starts one and sets the variable; by hand, ``make opensearch-start`` starts one
    and ``make test`` sets the variable from it (``scripts/opensearch.sh url``).
    """
    url = os.environ.get("GW_TEST_OPENSEARCH_URL", "").strip()
    if not url:
        pytest.skip(
            "no OpenSearch node: set GW_TEST_OPENSEARCH_URL (make opensearch-start, then "
            "make test picks it up), or run bash .ci/run"
        )
    return url.rstrip("/")
