"""FastAPI dependencies as ``Annotated`` aliases: services, the authenticated principal, limits.

``CurrentPrincipal`` is the only way a route learns who is asking: it authenticates the
Bearer key against the users file (groups come from there, never from the request) and then
takes a token from the principal's rate-limit bucket.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.metrics import ApiMetrics
from api.services import Services
from core.acl import Principal
from core.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from the users file: `Authorization: Bearer <key>`.",
)


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:  # pragma: no cover - only before the lifespan ran
        raise HTTPException(status_code=503, detail="the service is starting", headers={"Retry-After": "5"})
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]


def get_trace_id(request: Request) -> str:
    trace = getattr(request.state, "trace_id", None)
    return trace if isinstance(trace, str) else "untraced"


TraceId = Annotated[str, Depends(get_trace_id)]


def get_principal(
    services: ServicesDep,
    metrics: MetricsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status_code=401,
            detail="missing API key: send the header 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = services.users.authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="invalid API key",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    wait = services.limiter.acquire(principal.user_id)
    if wait is not None:
        metrics.rate_limited.inc()
        limit = services.settings.api.rate_limit_per_minute
        retry = services.limiter.retry_after_header(wait)
        raise HTTPException(
            status_code=429,
            detail=f"rate limit exceeded: {limit} requests per minute per user; retry in {retry} s",
            headers={"Retry-After": retry},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def check_text(value: str, field: str, settings: Settings) -> str:
    """A question or query within ``api.max_question_chars``, without NUL or control characters."""
    limit = settings.api.max_question_chars
    if len(value) > limit:
        raise HTTPException(
            status_code=422,
            detail=f"{field} is {len(value)} characters long; the limit is {limit} (api.max_question_chars)",
        )
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in value).strip()
    if not cleaned:
        raise HTTPException(status_code=422, detail=f"{field} must not be empty")
    return cleaned


def check_top_k(value: int | None, settings: Settings) -> int | None:
    """``top_k`` within 1..``api.max_top_k`` (and the retrieval depth), or the default."""
    if value is None:
        return None
    limit = min(settings.api.max_top_k, settings.retrieval.candidates)
    if not 1 <= value <= limit:
        raise HTTPException(
            status_code=422,
            detail=f"top_k must be between 1 and {limit} (api.max_top_k), got {value}",
        )
    return value
