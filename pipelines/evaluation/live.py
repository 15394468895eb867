"""The live side the evaluation assets measure: the golden set, principals, live stores, the agent.

Everything here builds the same objects the API serves with (``HybridRetriever.from_settings``,
``agent.factory.build_agent``, the users file's principals) over the live generation, read-only
(:meth:`pipelines.backends.EmbeddedBackend.readers`), so an evaluation measures what users get.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.catalog import ManifestSourceCatalog
from agent.chunk_fetch import StoreChunkReader
from agent.factory import build_agent
from agent.golden import GoldenSet, ManifestChunks, load_golden
from agent.loop import Agent
from core.acl import Principal
from core.embedding import Embedder
from core.errors import ConfigurationError
from core.settings import Settings
from index.manifest_reader import manifest_path
from index.types import KeywordStore, VectorStore
from pipelines.backends import EmbeddedBackend, ServerBackend
from pipelines.gate import load_principals
from retrieval.hybrid import HybridRetriever

DEFAULT_GOLDEN = Path("examples") / "golden.yaml"
"""The demo corpus' golden set, used when ``evaluation.golden_file`` is unset (as ``groundwork
eval --golden`` does)."""


def golden_path(settings: Settings) -> Path:
    path = settings.evaluation.golden_file or DEFAULT_GOLDEN
    if not Path(path).is_file():
        raise ConfigurationError(
            f"golden set {path} does not exist: set evaluation.golden_file "
            "(GW_EVALUATION__GOLDEN_FILE) to your golden questions (see examples/golden.yaml)"
        )
    return Path(path)


def principals(settings: Settings) -> dict[str, Principal]:
    """User id -> principal from ``api.users_file``, resolved as the API resolves them."""
    if settings.api.users_file is None:
        raise ConfigurationError(
            "api.users_file is not set: golden questions are asked as the users it names "
            "(GW_API__USERS_FILE=examples/users.yaml for the demo)"
        )
    return load_principals(settings.api.users_file)


def resolved_golden(settings: Settings) -> tuple[GoldenSet, ManifestChunks]:
    """The golden set with every document reference checked against the committed manifest.

    A reference to a document the index does not hold is an error naming the item (a typo would
    otherwise read as a recall of zero). The caller closes the returned manifest reader.
    """
    golden = load_golden(golden_path(settings))
    manifest = ManifestChunks(manifest_path(settings.backend.data_dir))
    try:
        golden.check_documents(manifest.has_document)
        users = principals(settings)
        missing = sorted({i.user for i in golden.items} - set(users))
        if missing:
            raise ConfigurationError(
                f"golden items are asked as {', '.join(missing)}, who are not in the users file "
                f"{settings.api.users_file}: add them there or fix the items' user"
            )
    except BaseException:
        manifest.close()
        raise
    return golden, manifest


@dataclass
class LiveServices:
    """The retriever and agent over the live generation's stores."""

    vectors: VectorStore
    keywords: KeywordStore
    retriever: HybridRetriever
    agent: Agent


@contextlib.contextmanager
def live_services(
    settings: Settings, backend: EmbeddedBackend | ServerBackend, embedder: Embedder
) -> Iterator[LiveServices]:
    """Read-only stores on the live generation, and the retriever and agent the API would build."""
    with backend.readers() as stores:
        if stores is None:
            raise ConfigurationError(
                "nothing is live yet: ingest first (groundwork ingest, or the ingest job)"
            )
        vectors, keywords = stores
        retriever = HybridRetriever.from_settings(
            settings, vectors=vectors, keywords=keywords, embedder=embedder
        )
        try:
            agent = build_agent(
                settings,
                searcher=retriever,
                chunks=StoreChunkReader([vectors, keywords]),
                sources=ManifestSourceCatalog.from_settings(settings),  # what the API lists
                embedder=embedder,
            )
            yield LiveServices(vectors, keywords, retriever, agent)
        finally:
            retriever.close()
