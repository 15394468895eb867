"""Everything a running API (or one CLI command) needs, built from settings and closed once.

Built in the app's lifespan (never at import), so every test can make an app with its own
settings; tests may hand in an embedder (the session's shared one) and backends (a Qdrant
``:memory:`` client the test filled).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from agent.catalog import ManifestSourceCatalog
from agent.chunk_fetch import StoreChunkReader
from agent.factory import build_agent
from agent.loop import Agent
from api.audit import AuditLog
from api.auth import UserDirectory
from api.backends import Backends, open_backends
from api.ratelimit import TokenBucketLimiter
from core.embedding import Embedder
from core.settings import Settings
from index.types import SearchFilter
from retrieval.hybrid import HybridRetriever
from retrieval.results import SearchResponse


class LazyRetriever:
    """A :class:`retrieval.hybrid.HybridRetriever` made on first use, and again after a failure.

    Making one reads the live generation's model id, which fails until something was ingested
    (or while the vector engine is down); the API must start anyway and answer 503 until then.
    """

    def __init__(self, settings: Settings, backends: Backends, embedder: Embedder) -> None:
        self._settings = settings
        self._backends = backends
        self._embedder = embedder
        self._retriever: HybridRetriever | None = None
        self._lock = threading.Lock()

    def get(self) -> HybridRetriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = HybridRetriever.from_settings(
                    self._settings,
                    vectors=self._backends.vectors,
                    keywords=self._backends.keywords,
                    embedder=self._embedder,
                )
            return self._retriever

    def search(
        self,
        query: str,
        flt: SearchFilter,
        *,
        top_k: int | None = None,
        as_of: datetime | None = None,
        query_vector: npt.NDArray[np.float32] | None = None,
    ) -> SearchResponse:
        return self.get().search(query, flt, top_k=top_k, as_of=as_of, query_vector=query_vector)

    def close(self) -> None:
        with self._lock:
            if self._retriever is not None:
                self._retriever.close()
                self._retriever = None


@dataclass
class Services:
    settings: Settings
    embedder: Embedder
    backends: Backends
    retriever: LazyRetriever
    agent: Agent
    users: UserDirectory
    limiter: TokenBucketLimiter
    audit: AuditLog
    owns_backends: bool = True

    def close(self) -> None:
        self.retriever.close()
        self.audit.close()
        if self.owns_backends:
            self.backends.close()


def build_services(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    backends: Backends | None = None,
) -> Services:
    """Open stores, make the retriever and the agent, load users, open the audit log."""
    embedder = embedder or Embedder(settings.embedding)
    users = (
        UserDirectory.from_file(settings.api.users_file) if settings.api.users_file else UserDirectory.empty()
    )
    owns = backends is None
    backends = backends or open_backends(settings, model_id=embedder.model_id, dimension=embedder.dimension)
    retriever = LazyRetriever(settings, backends, embedder)
    agent = build_agent(
        settings,
        searcher=retriever,
        chunks=StoreChunkReader([backends.vectors, backends.keywords]),
        sources=ManifestSourceCatalog.from_settings(settings),
        embedder=embedder,
        agent_settings=settings.agent,
    )
    return Services(
        settings=settings,
        embedder=embedder,
        backends=backends,
        retriever=retriever,
        agent=agent,
        users=users,
        limiter=TokenBucketLimiter(settings.api.rate_limit_per_minute),
        audit=AuditLog.from_settings(settings),
        owns_backends=owns,
    )
