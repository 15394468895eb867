"""``GET /v1/sources``: per source, when it was indexed, how fresh, what failed: for *you*.

Counts, dates and failures cover only documents the caller may read; sources with nothing
readable are not listed (see :meth:`agent.tools.Toolbox.list_sources`).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, ServicesDep
from api.routes.ask import _ERRORS
from api.schemas import SourceOut, SourcesOut

router = APIRouter(prefix="/v1", tags=["sources"])


@router.get(
    "/sources",
    response_model=SourcesOut,
    summary="Sources you can read: last indexed, document counts, failures, freshness",
    responses=_ERRORS,
)
async def list_sources(principal: CurrentPrincipal, services: ServicesDep) -> SourcesOut:
    views = await run_in_threadpool(services.agent.toolbox(principal).list_sources)
    return SourcesOut(sources=[SourceOut.of(v) for v in views])
