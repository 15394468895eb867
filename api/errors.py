"""Domain errors to HTTP, in one place: backends failing are 503s with a clear message, never 500s.

::

    StoreUnavailableError       503  both engines down (one down is not an error: degraded)
    GenerationNotFoundError     503  nothing ingested yet / no live generation
    ModelLoadError              503  the embedding model cannot be loaded
    ReasonerUnavailableError    503  the configured chat endpoint failed
    IndexLayerError (other)     503  an engine answered with an error
    RequestValidationError      422  one readable message (with the limit, where there is one)
    HTTPException               its status; 404 bodies are one constant (see not_found)
    anything else               500  a constant message and the trace id, never the exception text

Messages never carry engine responses or exception text from below: those can contain query
text or index names, and a constant message cannot leak anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.reasoners.openai_compatible import ReasonerUnavailableError
from core.errors import GenerationNotFoundError, IndexLayerError, ModelLoadError, StoreUnavailableError

log = logging.getLogger("groundwork.api")

NOT_FOUND_DETAIL = "not found"
RETRY_AFTER_S = "5"


def not_found() -> HTTPException:
    """The one 404 for documents and chunks: the same for missing and forbidden (no id echoed)."""
    return HTTPException(status_code=404, detail=NOT_FOUND_DETAIL)


def trace_id_of(request: Request) -> str | None:
    value = getattr(request.state, "trace_id", None)
    return value if isinstance(value, str) else None


def _json(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    *,
    with_trace: bool = False,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    trace = trace_id_of(request)
    if with_trace and trace:
        body["trace_id"] = trace
    out = dict(headers or {})
    if trace:
        out["X-Trace-Id"] = trace
    return JSONResponse(body, status_code=status, headers=out)


def describe_validation(errors: Sequence[Any]) -> str:
    """One sentence per problem, naming the field: what a person can act on."""
    parts: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "body"
        kind = err.get("type", "")
        if kind == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "malformed")
            parts.append(f"the request body is not valid JSON ({reason})")
        elif kind == "extra_forbidden":
            parts.append(f"unknown field '{where}'")
        elif kind == "missing":
            parts.append(f"'{where}' is required")
        elif kind in ("model_attributes_type", "dict_type", "model_type"):
            parts.append("the request body must be a JSON object")
        else:
            parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(dict.fromkeys(parts)) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(request, 422, describe_validation(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(StoreUnavailableError)
    async def _down(request: Request, exc: StoreUnavailableError) -> JSONResponse:
        log.warning("search backends unavailable: %s", exc)
        return _json(
            request,
            503,
            "search is unavailable: both search engines (vector and keyword) are down or unreachable. "
            "Try again shortly; operators can check GET /readyz.",
            {"Retry-After": RETRY_AFTER_S},
        )

    @app.exception_handler(GenerationNotFoundError)
    async def _empty(request: Request, exc: GenerationNotFoundError) -> JSONResponse:
        log.warning("no live index generation: %s", exc)
        return _json(
            request,
            503,
            "no index is live yet: run `groundwork ingest` (or the Dagster job) to build and promote one.",
            {"Retry-After": RETRY_AFTER_S},
        )

    @app.exception_handler(ModelLoadError)
    async def _model(request: Request, exc: ModelLoadError) -> JSONResponse:
        log.error("model failed to load: %s", exc)
        return _json(
            request,
            503,
            "the embedding model could not be loaded: see the server log and `groundwork doctor`.",
            {"Retry-After": RETRY_AFTER_S},
        )

    @app.exception_handler(ReasonerUnavailableError)
    async def _reasoner(request: Request, exc: ReasonerUnavailableError) -> JSONResponse:
        log.error("reasoner unavailable: %s", exc)
        return _json(
            request,
            503,
            "the configured answer model is unavailable: see the server log.",
            {"Retry-After": RETRY_AFTER_S},
        )

    @app.exception_handler(IndexLayerError)
    async def _index(request: Request, exc: IndexLayerError) -> JSONResponse:
        log.error("index backend error: %s", exc)
        return _json(
            request,
            503,
            "a search engine failed to answer: see the server log.",
            {"Retry-After": RETRY_AFTER_S},
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error (trace %s)", trace_id_of(request))
        return _json(request, 500, "internal error: report the trace id to the operators.", with_trace=True)
