"""What the CLI's ``serve``, ``ask`` and ``search`` run: plain functions over settings.

``ask`` and ``search`` resolve the user from the users file (local use: whoever can read the
settings and the index may act as any user in the file) and run in-process, with no server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agent.result import AgentResult
from api.services import Services, build_services
from core.settings import Settings
from index.types import SearchFilter
from retrieval.results import SearchResponse


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    services = build_services(settings)
    try:
        yield services
    finally:
        services.close()


def ask(settings: Settings, question: str, user_id: str, *, top_k: int | None = None) -> AgentResult:
    """Answer ``question`` as ``user_id`` (groups from the users file)."""
    with open_services(settings) as services:
        principal = services.users.principal(user_id)
        return services.agent.run(question, principal, top_k=top_k)


def search(settings: Settings, query: str, user_id: str, *, top_k: int | None = None) -> SearchResponse:
    """Hybrid search as ``user_id`` (groups from the users file)."""
    with open_services(settings) as services:
        principal = services.users.principal(user_id)
        return services.retriever.search(query, SearchFilter.for_principal(principal), top_k=top_k)


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API with uvicorn on ``host:port`` (default: ``api.host`` and ``api.port``)."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


def render_answer(result: AgentResult) -> str:
    """The answer as plain text with its numbered citations (what ``groundwork ask`` prints)."""
    lines = [result.answer, ""]
    for i, c in enumerate(result.citations, start=1):
        stale = "  [stale]" if c.stale else ""
        lines.append(
            f"[{i}] {c.title} ({c.uri}), chars {c.span.start}-{c.span.end}, "
            f"updated {c.updated_at:%Y-%m-%d}{stale}"
        )
        lines.append(f'    "{c.quote.strip()}"')
    for w in result.warnings:
        lines.append(f"note: {w}")
    if result.degraded:
        lines.append("note: answered in degraded mode (one search engine was down)")
    return "\n".join(lines).rstrip()
