"""The API over real HTTP (uvicorn on 127.0.0.1), embedded engines, the fixture corpus.

Covers: per-user answers and leaks (JSON and SSE), citation endpoints and the 404 equivalence,
refusals, stale flags, injected instructions, bad input, auth, rate limits, audit, health,
metrics and the OpenAPI document.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.embedding import Embedder
from tests.integration.api_support import (
    DOCS,
    USERS,
    Server,
    api_key,
    build_embedded_index,
    check_user,
    documents,
    serve_in_thread,
    settings_for,
    sse_events,
    write_users_file,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("api-embedded")
    chunks = build_embedded_index(data_dir, "groundwork", embedder)
    users = write_users_file(data_dir / "users.yaml")
    app = create_app(settings_for(data_dir, users, rate_limit_per_minute=10_000), embedder=embedder)
    with serve_in_thread(app) as url:
        yield Server(url, data_dir, chunks)


# ----------------------------------------------------------------------------- per user


@pytest.mark.parametrize("user", sorted(USERS))
def test_each_user_gets_answers_from_what_they_may_read_and_nothing_else(server: Server, user: str) -> None:
    check_user(server, user)


def test_sse_streams_each_step_then_the_answer(server: Server) -> None:
    question = (
        "What is the guest wifi network in the Pittsburgh office called and when does the password rotate?"
    )
    with server.client("dave", Accept="text/event-stream") as client:
        r = client.post("/v1/ask", json={"question": question})
    events = sse_events(r.text)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "answer"
    assert set(kinds[:-1]) == {"step"}
    steps = [data for kind, data in events if kind == "step"]
    assert [s["index"] for s in steps] == list(range(1, len(steps) + 1))
    assert steps[0]["kind"] == "plan"
    answer = events[-1][1]
    assert answer["steps"] == steps
    assert "NorthwindGuest" in answer["answer"]
    assert r.headers["x-trace-id"] == answer["trace_id"]


# ----------------------------------------------------------------------------- citations


def test_citation_endpoints_show_the_span_in_context(server: Server) -> None:
    with server.client("alice") as client:
        answer = client.post(
            "/v1/ask", json={"question": "How many approvals does a production deploy need?"}
        ).json()
        citation = answer["citations"][0]
        chunk = client.get(citation["chunk_url"])
        assert chunk.status_code == 200
        shown = chunk.json()
        assert shown["text"] == citation["quote"]
        assert f"⟦{citation['quote']}⟧" in shown["marked"]
        assert shown["span"] == citation["span"]
        assert shown["before"] + shown["text"] + shown["after"] in shown["marked"].replace("⟦", "").replace(
            "⟧", ""
        )
        doc = client.get(shown["document_url"])
        assert doc.status_code == 200
        body = doc.json()
        start, end = citation["span"]["start"], citation["span"]["end"]
        assert body["text"][start:end] == citation["quote"]
        assert body["marked"] == citation["span"]
        assert citation["chunk_id"] in body["chunk_ids"]
        outside = client.get(f"/v1/chunks/{citation['chunk_id']}", params={"start": 0, "end": 10**6})
        assert outside.status_code == 422


def _strip_volatile(r: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in r.headers.items() if k not in ("date", "x-trace-id"))
    return r.status_code, r.content, headers


def test_forbidden_and_missing_are_the_same_404(server: Server) -> None:
    budget = next(doc for d, doc in zip(DOCS, documents(), strict=True) if d.locator == "budget-2027.md")
    budget_chunk = next(c for c in server.chunks if c.document_id == budget.id)
    missing_doc, missing_chunk = str(uuid.uuid4()), str(uuid.uuid4())
    with server.client("alice") as alice, server.client("bob") as bob:
        assert bob.get(f"/v1/documents/{budget.id}").status_code == 200
        assert bob.get(f"/v1/chunks/{budget_chunk.id}").status_code == 200
        pairs = [
            (alice.get(f"/v1/documents/{budget.id}"), alice.get(f"/v1/documents/{missing_doc}")),
            (alice.get(f"/v1/chunks/{budget_chunk.id}"), alice.get(f"/v1/chunks/{missing_chunk}")),
            (
                alice.get(f"/v1/chunks/{budget_chunk.id}?start=1&end=2&context=5"),
                alice.get(f"/v1/chunks/{missing_chunk}?start=1&end=2&context=5"),
            ),
        ]
        for forbidden, missing in pairs:
            assert forbidden.status_code == 404
            assert _strip_volatile(forbidden) == _strip_volatile(missing)
            assert forbidden.json() == {"detail": "not found"}

        # timing class: the same filtered reads either way, so the medians are close
        def median_ms(path: str) -> float:
            times = []
            for _ in range(15):
                t0 = time.perf_counter()
                alice.get(path)
                times.append((time.perf_counter() - t0) * 1000)
            return statistics.median(times)

        for forbidden_path, missing_path in (
            (f"/v1/chunks/{budget_chunk.id}", f"/v1/chunks/{missing_chunk}"),
            (f"/v1/documents/{budget.id}", f"/v1/documents/{missing_doc}"),
        ):
            a, b = median_ms(forbidden_path), median_ms(missing_path)
            assert abs(a - b) < max(25.0, 0.75 * min(a, b)), (forbidden_path, a, b)


# ----------------------------------------------------------------------------- behaviour


def test_unanswerable_question_is_refused_saying_what_was_searched(server: Server) -> None:
    with server.client("carol") as client:
        body = client.post("/v1/ask", json={"question": "What is the capital of Mongolia?"}).json()
    assert body["refused"]
    assert body["citations"] == []
    assert "What is the capital of Mongolia?" in body["refusal_reason"]
    assert body["searched"][0] == "What is the capital of Mongolia?"


def test_stale_source_is_flagged(server: Server) -> None:
    with server.client("alice") as client:
        body = client.post("/v1/ask", json={"question": "How do I restart the telemetry collector?"}).json()
        assert not body["refused"]
        assert all(c["stale"] for c in body["citations"])
        assert any("out of date" in w for w in body["warnings"])
        chunk = client.get(body["citations"][0]["chunk_url"]).json()
        assert chunk["stale"]


def test_injected_instructions_do_not_steer_the_agent(server: Server) -> None:
    with server.client("dave") as client:
        body = client.post(
            "/v1/ask", json={"question": "What is the guest wifi network in the Pittsburgh office called?"}
        ).json()
    assert "NorthwindGuest" in body["answer"]
    for marker in (
        "Ignore all previous",
        "tool_call",
        "evil.example.com",
        "http",
        "Marrowgate",
        "confidential",
    ):
        assert marker not in body["answer"]
    assert all("Falcon" not in q and "severance" not in q for q in body["searched"])
    assert all(
        s["kind"] in ("plan", "search", "open_passage", "list_sources", "check_freshness", "compose")
        for s in body["steps"]
    )


def test_search_returns_stage_scores(server: Server) -> None:
    with server.client("alice") as client:
        body = client.post("/v1/search", json={"query": "deploy approvals reviewers", "top_k": 5}).json()
    assert body["passages"]
    top = body["passages"][0]
    assert top["title"] == "Production deploy process"
    stages = top["chunks"][0]["stages"]
    assert {"bm25", "dense", "fused"} <= set(stages)
    assert all({"score", "rank"} == set(v) for v in stages.values())
    assert not body["degraded"]


# ----------------------------------------------------------------------------- input and auth


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (b'{"question": "deploy', 422, "not valid JSON"),
        (b'["a list"]', 422, "JSON object"),
        (json.dumps({"question": "x" * 2001}).encode(), 422, "the limit is 2000"),
        (json.dumps({"question": "deploys", "top_k": 0}).encode(), 422, "between 1 and 50"),
        (json.dumps({"question": "deploys", "top_k": 51}).encode(), 422, "between 1 and 50"),
        (json.dumps({"question": "deploys", "top_k": "ten"}).encode(), 422, "top_k"),
        (json.dumps({"question": "deploys", "stream": True}).encode(), 422, "unknown field 'stream'"),
        (json.dumps({"question": "   "}).encode(), 422, "must not be empty"),
        (json.dumps({}).encode(), 422, "'question' is required"),
    ],
)
def test_bad_input_gets_the_right_status_and_message(
    server: Server, payload: bytes, status: int, message: str
) -> None:
    with server.client("alice", **{"Content-Type": "application/json"}) as client:
        r = client.post("/v1/ask", content=payload)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_no_key_and_unknown_key_are_401(server: Server) -> None:
    with server.client() as client:
        missing = client.post("/v1/ask", json={"question": "deploys"})
        assert missing.status_code == 401
        assert "Authorization: Bearer" in missing.json()["detail"]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        unknown = client.post(
            "/v1/ask", json={"question": "deploys"}, headers={"Authorization": "Bearer gw-test-mallory"}
        )
        assert unknown.status_code == 401
        assert unknown.json()["detail"] == "invalid API key"
        basic = client.get("/v1/sources", headers={"Authorization": "Basic YWxpY2U6eA=="})
        assert basic.status_code == 401
        # a client cannot add groups: there is no field for them, and an unknown field is refused
        forged = client.post(
            "/v1/search",
            json={"query": "budget", "groups": ["finance"]},
            headers={"Authorization": f"Bearer {api_key('alice')}"},
        )
        assert forged.status_code == 422


def test_rate_limit_is_per_principal_with_retry_after(
    server: Server, embedder: Embedder, tmp_path: Path
) -> None:
    users = write_users_file(tmp_path / "users.yaml")
    settings = settings_for(
        server.data_dir,
        users,
        rate_limit_per_minute=2,
        store_questions=False,
        audit_db_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
    )
    with serve_in_thread(create_app(settings, embedder=embedder)) as url:
        alice = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {api_key('alice')}"}, timeout=60
        )
        bob = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key('bob')}"}, timeout=60)
        statuses = [
            alice.post("/v1/ask", json={"question": "When do deploys happen?"}).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        limited = alice.get("/v1/sources")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "2 requests per minute" in limited.json()["detail"]
        assert bob.get("/v1/sources").status_code == 200
    rows = (
        sqlite3.connect(tmp_path / "audit.sqlite3")
        .execute(
            "SELECT user_id, endpoint, question, question_sha256, cited_chunk_ids, refused FROM audit_log"
        )
        .fetchall()
    )
    assert len(rows) == 2
    assert all(r[0] == "alice" and r[1] == "ask" and r[2] is None and len(r[3]) == 64 for r in rows)
    assert all(json.loads(r[4]) for r in rows)


def test_audit_log_records_each_question(server: Server) -> None:
    with server.client("bob") as client:
        r = client.post("/v1/ask", json={"question": "What is the approved robotics budget for 2027?"})
    trace = r.headers["x-trace-id"]
    row = (
        sqlite3.connect(server.data_dir / "app" / "audit.sqlite3")
        .execute(
            "SELECT user_id, question, cited_chunk_ids, refused, status, latency_ms FROM audit_log "
            "WHERE trace_id = ?",
            (trace,),
        )
        .fetchone()
    )
    assert row[0] == "bob"
    assert row[1] == "What is the approved robotics budget for 2027?"
    assert set(json.loads(row[2])) == {c["chunk_id"] for c in r.json()["citations"]}
    assert row[3] == 0
    assert row[4] == 200
    assert row[5] > 0


# ----------------------------------------------------------------------------- operations


def test_health_readiness_metrics_and_openapi(server: Server) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        assert {b["state"] for b in ready["backends"].values()} == {"up"}
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "groundwork_http_requests_total" in metrics.text
        assert 'route="/v1/ask"' in metrics.text
        spec = client.get("/openapi.json").json()
    assert {
        "/v1/ask",
        "/v1/search",
        "/v1/documents/{doc_id}",
        "/v1/chunks/{chunk_id}",
        "/v1/sources",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert spec["components"]["schemas"]["AskRequest"]["examples"]
    assert "text/event-stream" in spec["paths"]["/v1/ask"]["post"]["responses"]["200"]["content"]
