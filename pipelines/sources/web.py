"""Web sources: a list of pages fetched over HTTP(S), with conditional requests.

Each page is fetched with the source's timeout. When the manifest holds the page's validators
(``ETag``, ``Last-Modified``) the request carries ``If-None-Match`` / ``If-Modified-Since``, and a
``304 Not Modified`` costs no download and no parse. Servers without validators are handled by
the content hash: an identical body changes nothing in the index.

Failures are classified by what they say about the page:

- 404 and 410: the page is gone; a previously indexed version is removed (and reported).
- timeouts, connection errors, 5xx, other statuses, oversized bodies: transient or unknown; a
  previously indexed version stays searchable, and the failure is reported every run until the
  page is fetched again.

``transport`` is httpx's seam for tests (``httpx.MockTransport``); by default a real connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import httpx

from core.settings import WebSource
from pipelines.sources.base import FetchedContent, KnownDocument, Listing, ListingFailure, SourceEntry

MAX_PAGE_BYTES = 20 * 1024 * 1024
USER_AGENT = "groundwork-indexer/0.1"


def list_web(
    source: WebSource,
    known: Mapping[str, KnownDocument],
    *,
    full: bool = False,
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
) -> Listing:
    """Fetch every page of the source (conditionally where the manifest has validators)."""
    listing = Listing()
    fetched_at = now or datetime.now(UTC)
    with httpx.Client(
        timeout=source.timeout_s,
        follow_redirects=True,
        transport=transport,
        headers={"User-Agent": USER_AGENT},
    ) as client:
        for url in dict.fromkeys(source.urls):
            previous = None if full else known.get(url)
            result = fetch_page(client, url, previous, source.default_acl, fetched_at)
            if isinstance(result, ListingFailure):
                listing.failures.append(result)
            else:
                listing.entries.append(result)
    return listing


def fetch_page(
    client: httpx.Client,
    url: str,
    previous: KnownDocument | None,
    acl: tuple[str, ...],
    fetched_at: datetime,
) -> SourceEntry | ListingFailure:
    headers = {}
    if previous is not None:
        if etag := previous.validators.get("etag"):
            headers["If-None-Match"] = etag
        if modified := previous.validators.get("last_modified"):
            headers["If-Modified-Since"] = modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304 and previous is not None:
                validators = dict(previous.validators) | _validators(response.headers)
                return SourceEntry(
                    locator=url,
                    uri=url,
                    acl=acl,
                    content_hash=previous.content_hash,
                    fingerprint=previous.fingerprint,
                    content=None,
                    observed_at=fetched_at,
                    updated_at=_last_modified(validators.get("last_modified")),
                    validators=validators,
                )
            if response.status_code in (404, 410):
                return ListingFailure(
                    url, "fetch", f"HTTP {response.status_code}: the page is gone", keep_indexed=False
                )
            if response.status_code != 200:
                return ListingFailure(
                    url,
                    "fetch",
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    keep_indexed=True,
                )
            body = bytearray()
            for part in response.iter_bytes():
                body += part
                if len(body) > MAX_PAGE_BYTES:
                    return ListingFailure(
                        url,
                        "fetch",
                        f"page larger than {MAX_PAGE_BYTES // (1024 * 1024)} MiB",
                        keep_indexed=True,
                    )
            validators = _validators(response.headers)
            data = bytes(body)
            content_hash = hashlib.sha256(data).hexdigest()
            return SourceEntry(
                locator=url,
                uri=url,
                acl=acl,
                content_hash=content_hash,
                fingerprint=validators.get("etag") or validators.get("last_modified") or content_hash,
                content=FetchedContent(
                    data=data,
                    filename=_filename(str(response.url)),
                    content_type=response.headers.get("content-type"),
                ),
                observed_at=fetched_at,
                updated_at=_last_modified(validators.get("last_modified")),
                validators=validators,
            )
    except httpx.TimeoutException as exc:
        return ListingFailure(url, "fetch", f"timed out: {type(exc).__name__}", keep_indexed=True)
    except httpx.HTTPError as exc:
        return ListingFailure(url, "fetch", f"{type(exc).__name__}: {exc}", keep_indexed=True)


def _validators(headers: httpx.Headers) -> dict[str, str]:
    out = {}
    if etag := headers.get("etag"):
        out["etag"] = etag
    if modified := headers.get("last-modified"):
        out["last_modified"] = modified
    return out


def _last_modified(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _filename(url: str) -> str:
    """A file name for the parser's format detection (the content type usually decides)."""
    name = PurePosixPath(urlsplit(url).path).name
    return name or "index.html"
