"""What the CLI's ``serve``, ``ask``, ``search`` and ``eval --golden`` run: plain functions over settings.

``ask`` and ``search`` resolve the user from the users file (local use: whoever can read the
settings and the index may act as any user in the file) and run in-process, with no server.
``golden_eval`` asks every golden question as its user through the same agent and checks the
answers against the pipeline's manifest (:mod:`agent.golden`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from agent.golden import GoldenReport, ManifestChunks, evaluate_golden, load_golden
from agent.result import AgentResult
from api.services import Services, build_services
from core.acl import Principal
from core.errors import ConfigurationError
from core.settings import Settings
from index.manifest_reader import manifest_path
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


DEFAULT_GOLDEN = Path("examples") / "golden.yaml"


def golden_path(settings: Settings, path: Path | None = None) -> Path:
    """``path``, else ``evaluation.golden_file``, else ``examples/golden.yaml``."""
    return path or settings.evaluation.golden_file or DEFAULT_GOLDEN


def golden_eval(settings: Settings, path: Path | None = None, *, users: Sequence[str] = ()) -> GoldenReport:
    """Ask the golden set (only ``users``' items, when given) against the live index and score it.

    Every referenced document must exist in the index, so a typo in the golden set is an error,
    not a silent recall of zero.
    """
    golden = load_golden(golden_path(settings, path))
    if users:
        known = {i.user for i in golden.items}
        unknown = sorted(set(users) - known)
        if unknown:
            raise ConfigurationError(
                f"no golden items for user(s) {', '.join(unknown)} "
                f"(users with items: {', '.join(sorted(known))})"
            )
        golden = golden.for_users(users)
    manifest = ManifestChunks(manifest_path(settings.backend.data_dir))
    try:
        golden.check_documents(manifest.has_document)
        with open_services(settings) as services:
            principals = {u: services.users.principal(u) for u in {i.user for i in golden.items}}

            def ask_as(question: str, principal: Principal) -> AgentResult:
                return services.agent.run(question, principal)

            return evaluate_golden(golden, ask_as, principals, manifest, document_acl=manifest.document_acl)
    finally:
        manifest.close()


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API with uvicorn on ``host:port`` (default: ``api.host`` and ``api.port``)."""
    import uvicorn

    from api.app import create_app

    if settings.api.torch_threads is not None:
        # Requests run concurrently in uvicorn's thread pool and each embeds one short query:
        # intra-op threads only contend there (a query measured 408 ms CPU with torch's default
        # 2 threads on a busy 2-core machine, 39 ms with one). Process-wide, so only here: bulk
        # embedding (ingest, evaluation, tests) keeps torch's default.
        import torch

        torch.set_num_threads(settings.api.torch_threads)

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
