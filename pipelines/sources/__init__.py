"""Sources: folders, web pages and ticket exports, each listed into entries and failures.

:func:`list_source` dispatches on the source's kind; see :mod:`pipelines.sources.base` for what a
listing holds and why listers read as little as they can.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx

from core.settings import FolderSource, TicketSource, WebSource
from pipelines.sources.base import (
    Content,
    FetchedContent,
    FileContent,
    KnownDocument,
    Listing,
    ListingFailure,
    SourceEntry,
    TextContent,
)
from pipelines.sources.folder import list_folder
from pipelines.sources.tickets import list_tickets
from pipelines.sources.web import list_web

__all__ = [
    "Content",
    "FetchedContent",
    "FileContent",
    "KnownDocument",
    "Listing",
    "ListingFailure",
    "SourceEntry",
    "TextContent",
    "list_source",
]


def list_source(
    source: FolderSource | WebSource | TicketSource,
    known: Mapping[str, KnownDocument],
    *,
    full: bool = False,
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
) -> Listing:
    """List one source. ``known`` maps locators to what the manifest remembers of them."""
    if isinstance(source, FolderSource):
        return list_folder(source, known, full=full)
    if isinstance(source, WebSource):
        return list_web(source, known, full=full, transport=transport, now=now)
    return list_tickets(source)
