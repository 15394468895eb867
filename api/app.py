"""The FastAPI app factory: settings in, an app out; everything stateful is made in the lifespan.

``create_app(settings)`` builds no store, model or connection: the lifespan does (in a worker
thread, since loading the model takes seconds), and closes them on shutdown. Tests pass their
own settings, and may pass the session's embedder and pre-filled backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api.backends import Backends
from api.errors import install_error_handlers
from api.metrics import ApiMetrics
from api.middleware import TraceAndMetricsMiddleware
from api.routes import ask, documents, health, search, sources
from api.services import Services, build_services
from core.embedding import Embedder
from core.settings import Settings

DESCRIPTION = """
Groundwork answers questions **using only what the asking user may read**, and every sentence of
an answer cites an exact span of a source, or the agent refuses and says what it searched.

* Authenticate with `Authorization: Bearer <api key>` (keys are configured, hashed, in the users file).
* `POST /v1/ask` answers; send `Accept: text/event-stream` to stream the agent's steps.
* `GET /v1/chunks/{chunk_id}` and `GET /v1/documents/{doc_id}` show a citation in its context.
* A document or chunk you may not read is a 404, exactly like one that does not exist.
* With one search engine down, answers come from the other with `degraded: true`; with both
  down, 503.
"""

TAGS = [
    {"name": "ask", "description": "Grounded answers with citations"},
    {"name": "search", "description": "Ranked passages with every stage's score"},
    {"name": "citations", "description": "Inspect a cited document or chunk"},
    {"name": "sources", "description": "What is indexed, how fresh, what failed"},
    {"name": "health", "description": "Liveness, readiness, metrics"},
]


def create_app(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    backends: Backends | None = None,
) -> FastAPI:
    """The Groundwork API for ``settings`` (see module docstring for the optional parts)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services: Services = await run_in_threadpool(
            lambda: build_services(settings, embedder=embedder, backends=backends)
        )
        app.state.services = services
        try:
            yield
        finally:
            app.state.services = None
            await run_in_threadpool(services.close)

    app = FastAPI(
        title="Groundwork",
        version="0.1.0",
        summary="A retrieval-first knowledge agent with access-controlled, grounded answers",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.state.settings = settings
    app.add_middleware(TraceAndMetricsMiddleware, metrics=metrics)
    install_error_handlers(app)
    for module in (ask, search, documents, sources, health):
        app.include_router(module.router)
    return app
