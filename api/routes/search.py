"""``POST /v1/search``: ranked passages the caller may read, with every stage's score and rank."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, MetricsDep, ServicesDep, TraceId, check_text, check_top_k
from api.routes.ask import _ERRORS
from api.schemas import SearchRequest, SearchResponseOut
from index.types import SearchFilter

router = APIRouter(prefix="/v1", tags=["search"])


@router.post(
    "/search",
    response_model=SearchResponseOut,
    summary="Hybrid search (BM25 + dense, fused, reranked) over what you may read",
    responses=_ERRORS,
)
async def search(
    body: SearchRequest,
    principal: CurrentPrincipal,
    services: ServicesDep,
    metrics: MetricsDep,
    trace_id: TraceId,
) -> SearchResponseOut:
    query = check_text(body.query, "query", services.settings)
    top_k = check_top_k(body.top_k, services.settings)
    narrowing = {"source_ids": tuple(body.source_ids)} if body.source_ids is not None else {}
    flt = SearchFilter.for_principal(principal, **narrowing)
    started = time.perf_counter()
    status = 503
    returned: tuple[str, ...] = ()
    try:
        # the query vector through the embedding cache: a repeated query costs no model call
        vector = await run_in_threadpool(services.agent.scorer.query_vector, query)
        response = await run_in_threadpool(
            services.retriever.search, query, flt, top_k=top_k, query_vector=vector
        )
        status, returned = 200, tuple(r.chunk.id for r in response.results)
    finally:
        await run_in_threadpool(
            services.audit.record,
            trace_id=trace_id,
            user_id=principal.user_id,
            endpoint="search",
            question=query,
            cited_chunk_ids=returned,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
    if response.degraded:
        metrics.degraded.labels("search").inc()
    return SearchResponseOut.of(trace_id, response)
