"""Web listing through httpx's MockTransport: conditional requests and how failures are classified.

The same lister against a real local HTTP server is in tests/integration/test_pipeline_web.py.
"""

from __future__ import annotations

import httpx

from core.settings import WebSource
from pipelines.sources.base import FetchedContent, KnownDocument
from pipelines.sources.web import list_web

PAGE = "http://example.test/page.html"


def source(*urls: str) -> WebSource:
    return WebSource(id="web", urls=urls or (PAGE,), default_acl=("public",), timeout_s=2)


def test_first_fetch_records_validators_and_content() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "if-none-match" not in request.headers
        return httpx.Response(
            200,
            content=b"<html><body><p>Hello</p></body></html>",
            headers={
                "ETag": '"v1"',
                "Last-Modified": "Tue, 03 Nov 2026 10:00:00 GMT",
                "Content-Type": "text/html",
            },
        )

    [entry] = list_web(source(), {}, transport=httpx.MockTransport(handler)).entries
    assert entry.validators == {"etag": '"v1"', "last_modified": "Tue, 03 Nov 2026 10:00:00 GMT"}
    assert entry.fingerprint == '"v1"'
    assert entry.acl == ("public",)
    assert entry.updated_at is not None
    assert entry.updated_at.isoformat() == "2026-11-03T10:00:00+00:00"
    assert isinstance(entry.content, FetchedContent)
    assert entry.content.filename == "page.html"
    assert entry.content.content_type == "text/html"


def test_not_modified_costs_no_download() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304, headers={"ETag": '"v1"'})

    known = {
        PAGE: KnownDocument(
            '"v1"', "known-hash", {"etag": '"v1"', "last_modified": "Tue, 03 Nov 2026 10:00:00 GMT"}
        )
    }
    [entry] = list_web(source(), known, transport=httpx.MockTransport(handler)).entries
    assert seen[0].headers["if-none-match"] == '"v1"'
    assert seen[0].headers["if-modified-since"] == "Tue, 03 Nov 2026 10:00:00 GMT"
    assert entry.content is None
    assert entry.content_hash == "known-hash"
    # --full asks unconditionally
    seen.clear()
    list_web(
        source(), known, full=True, transport=httpx.MockTransport(lambda r: httpx.Response(200, text="x"))
    )
    assert not seen


def test_failures_are_classified() -> None:
    urls = [f"http://example.test/{code}" for code in ("404", "410", "500", "timeout", "refused", "418")]

    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.path.strip("/")
        if name == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if name == "refused":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(name))

    listing = list_web(source(*urls), {}, transport=httpx.MockTransport(handler))
    assert not listing.entries
    kept = {f.locator.rsplit("/", 1)[1]: f.keep_indexed for f in listing.failures}
    # gone for good: remove what was indexed; anything else may be transient: keep it
    assert kept == {"404": False, "410": False, "500": True, "timeout": True, "refused": True, "418": True}
    reasons = {f.locator.rsplit("/", 1)[1]: f.reason for f in listing.failures}
    assert reasons["404"] == "HTTP 404: the page is gone"
    assert reasons["timeout"] == "timed out: ReadTimeout"
    assert reasons["500"] == "HTTP 500 Internal Server Error"
