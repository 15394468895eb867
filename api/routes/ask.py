"""``POST /v1/ask``: an answer with citations, as JSON or streamed as server-sent events.

With ``Accept: text/event-stream`` the loop's steps are sent as they happen (``event: step``),
then the answer (``event: answer``, the same JSON as the plain response). The response starts
only after the first search returned, so "both engines down" is still an honest 503 status
rather than an error event inside a 200 stream; a failure after that point is sent as
``event: error`` with the status it would have had.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from agent.result import AgentResult, Step, StepKind
from api.deps import CurrentPrincipal, MetricsDep, ServicesDep, TraceId, check_text, check_top_k
from api.errors import RETRY_AFTER_S
from api.metrics import ApiMetrics
from api.schemas import AskRequest, AskResponse, ErrorOut, StepOut
from api.services import Services
from core.acl import Principal
from core.errors import GroundworkError

router = APIRouter(prefix="/v1", tags=["ask"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid API key"},
    422: {"model": ErrorOut, "description": "bad input; the message names the limit"},
    429: {"model": ErrorOut, "description": "rate limited; see Retry-After"},
    503: {"model": ErrorOut, "description": "both search engines down, or nothing indexed yet"},
}


def wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "").lower()


def _sse(event: str, data: str, event_id: int | None = None) -> str:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head + "".join(f"data: {line}\n" for line in data.splitlines() or [""]) + "\n"


def _record(
    services: Services,
    metrics: ApiMetrics,
    principal: Principal,
    question: str,
    trace_id: str,
    started: float,
    result: AgentResult | None,
    status: int,
) -> None:
    metrics.answers.labels("refused" if result is None or result.refused else "answered").inc()
    if result is not None and result.degraded:
        metrics.degraded.labels("ask").inc()
    services.audit.record(
        trace_id=trace_id,
        user_id=principal.user_id,
        endpoint="ask",
        question=question,
        cited_chunk_ids=result.cited_chunk_ids if result else (),
        refused=result.refused if result else True,
        degraded=result.degraded if result else False,
        status=status,
        latency_ms=(time.perf_counter() - started) * 1000,
    )


@router.post(
    "/ask",
    response_model=AskResponse,
    summary="Ask a question; get a grounded answer with citations (or a refusal)",
    responses={
        **_ERRORS,
        200: {
            "description": "the answer; with `Accept: text/event-stream`: `step` events, then `answer`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def ask(
    body: AskRequest,
    request: Request,
    principal: CurrentPrincipal,
    services: ServicesDep,
    metrics: MetricsDep,
    trace_id: TraceId,
) -> Response | AskResponse:
    question = check_text(body.question, "question", services.settings)
    top_k = check_top_k(body.top_k, services.settings)
    started = time.perf_counter()
    if wants_stream(request):
        return await _stream(services, metrics, principal, question, top_k, trace_id, started)
    try:
        result = await run_in_threadpool(
            services.agent.run, question, principal, top_k=top_k, trace_id=trace_id
        )
    except GroundworkError:
        await run_in_threadpool(_record, services, metrics, principal, question, trace_id, started, None, 503)
        raise
    await run_in_threadpool(_record, services, metrics, principal, question, trace_id, started, result, 200)
    return AskResponse.of(result)


async def _stream(
    services: Services,
    metrics: ApiMetrics,
    principal: Principal,
    question: str,
    top_k: int | None,
    trace_id: str,
    started: float,
) -> Response:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_step(step: Step) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ("step", step))

    def work() -> None:
        try:
            result = services.agent.run(question, principal, top_k=top_k, trace_id=trace_id, on_step=on_step)
        except BaseException as exc:  # handed to the event loop, which maps or re-raises it
            loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
        else:
            loop.call_soon_threadsafe(queue.put_nowait, ("answer", result))

    worker = loop.run_in_executor(None, work)
    head: list[tuple[str, Any]] = []
    while True:  # hold the status line until a search has answered (see module docstring)
        kind, item = await queue.get()
        if kind == "error":
            await worker
            await run_in_threadpool(
                _record, services, metrics, principal, question, trace_id, started, None, 503
            )
            raise item
        head.append((kind, item))
        if kind == "answer" or (kind == "step" and item.kind is StepKind.SEARCH):
            break

    async def events() -> AsyncIterator[str]:
        pending = list(head)
        while True:
            kind, item = pending.pop(0) if pending else await queue.get()
            if kind == "step":
                yield _sse("step", StepOut.model_validate(item.model_dump()).model_dump_json(), item.index)
            elif kind == "answer":
                await run_in_threadpool(
                    _record, services, metrics, principal, question, trace_id, started, item, 200
                )
                yield _sse("answer", AskResponse.of(item).model_dump_json())
                break
            else:
                await run_in_threadpool(
                    _record, services, metrics, principal, question, trace_id, started, None, 503
                )
                status, detail = _stream_error(item)
                yield _sse("error", json.dumps({"status": status, "detail": detail}))
                break
        await worker

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Trace-Id": trace_id},
    )


def _stream_error(exc: BaseException) -> tuple[int, str]:
    """The status and constant message an error would have had as a plain response."""
    from core.errors import GenerationNotFoundError, StoreUnavailableError

    if isinstance(exc, StoreUnavailableError):
        return 503, f"search is unavailable: both search engines are down; retry in {RETRY_AFTER_S} s"
    if isinstance(exc, GenerationNotFoundError):
        return 503, "no index is live yet: run `groundwork ingest`"
    if isinstance(exc, GroundworkError):
        return 503, "a backend failed to answer: see the server log"
    return 500, "internal error: report the trace id to the operators"
