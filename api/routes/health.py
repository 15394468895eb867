"""Liveness, readiness (each backend's state) and Prometheus metrics; no authentication.

Nothing here reports sizes: a chunk or document count of the whole index would count
documents some callers may not read. Readiness says up / down / empty per engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import MetricsDep, ServicesDep
from api.metrics import CONTENT_TYPE
from api.schemas import BackendState, HealthOut, ReadyOut
from core.errors import GenerationNotFoundError, StoreUnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="The process is alive")
async def healthz() -> HealthOut:
    return HealthOut()


def _probe(count: Callable[[], int], backend: str) -> BackendState:
    try:
        count()
    except GenerationNotFoundError:
        return BackendState(
            state="empty", detail=f"{backend}: reachable, but no index generation is live yet"
        )
    except StoreUnavailableError:
        return BackendState(state="down", detail=f"{backend}: unavailable")
    except Exception as exc:  # a probe reports every failure as "down", with its kind
        return BackendState(state="down", detail=f"{backend}: {type(exc).__name__}")
    return BackendState(state="up", detail=f"{backend}: answering")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="Each search engine's state; 503 when neither can answer",
    responses={503: {"model": ReadyOut, "description": "no engine can answer"}},
)
async def readyz(services: ServicesDep, metrics: MetricsDep) -> Response:
    b = services.backends
    timeout = services.settings.backend.timeout_s + 1.0
    names = {
        "vectors": (b.vectors.count, b.vectors.backend),
        "keywords": (b.keywords.count, b.keywords.backend),
    }
    states: dict[str, BackendState] = {}
    for name, (count, backend) in names.items():
        try:
            states[name] = await asyncio.wait_for(run_in_threadpool(_probe, count, backend), timeout)
        except TimeoutError:
            states[name] = BackendState(state="down", detail=f"{backend}: no answer in {timeout:g}s")
        metrics.backend_up.labels(name).set(1.0 if states[name].state == "up" else 0.0)
    up = sum(s.state == "up" for s in states.values())
    status = "ready" if up == len(states) else "degraded" if up else "unavailable"
    body = ReadyOut(status=status, backends=states)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if up else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus(metrics: MetricsDep) -> Response:
    return Response(content=metrics.render(), media_type=CONTENT_TYPE)
