"""What a source hands the pipeline: one entry per document, or a failure with its reason.

A lister does the cheap part of a run: it names every document, its ACL, a content hash and a
fingerprint that changes whenever the content may have changed. It reads or fetches content
only when the fingerprint says it has to (a file whose mtime and size are unchanged is not
read; a page the server answers with 304 is not downloaded), which is what makes a re-run over
an unchanged corpus cost a directory walk and a few conditional requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from index.chunking import Block


@dataclass(frozen=True)
class FileContent:
    """Content to read (and parse by its extension) from a file."""

    path: Path


@dataclass(frozen=True)
class FetchedContent:
    """Content already fetched (a web page): bytes plus what says how to parse them."""

    data: bytes
    filename: str
    content_type: str | None = None


@dataclass(frozen=True)
class TextContent:
    """Content that needs no parser (a ticket): normalized text and its structure."""

    text: str
    blocks: tuple[Block, ...]
    title: str


Content = FileContent | FetchedContent | TextContent


@dataclass(frozen=True)
class KnownDocument:
    """What the manifest remembers of a locator, so a lister can skip unchanged content."""

    fingerprint: str
    content_hash: str
    validators: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceEntry:
    """One document as listed.

    ``content`` is None when the lister knows the content is unchanged without having it (a 304).
    ``title`` and ``updated_at`` are set when the source states them (a sidecar, a ticket field,
    a Last-Modified header); otherwise the parsed title and ``observed_at`` (the file's mtime,
    the fetch time) are used, the latter only when the content really changed.
    """

    locator: str
    uri: str
    acl: tuple[str, ...]
    content_hash: str
    fingerprint: str
    content: Content | None
    observed_at: datetime
    title: str | None = None
    updated_at: datetime | None = None
    validators: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListingFailure:
    """A document the lister could not list or fetch.

    ``keep_indexed``: a transient failure (timeout, HTTP 5xx) keeps a previously indexed version
    searchable; a definitive one (HTTP 404, an unreadable ACL sidecar: fail closed) removes it.
    """

    locator: str
    stage: str
    reason: str
    keep_indexed: bool
    content_hash: str = ""
    fingerprint: str = ""


@dataclass
class Listing:
    entries: list[SourceEntry] = field(default_factory=list)
    failures: list[ListingFailure] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return len(self.entries) + len(self.failures)
