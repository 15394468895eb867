"""Ticket sources: a JSONL export, one ticket per line, each with its own ACL and updated_at.

A ticket line needs ``id``, ``title`` and ``body``; ``acl`` (a list of ACL entries; the source's
``default_acl`` when absent), ``updated_at`` (ISO 8601; falls back to ``created_at``), ``status``,
``url`` and ``comments`` (strings, or objects with ``body`` and optional ``author`` and
``created_at``) are optional. A ticket's text is its title, its body, then its comments, each a
section of its own, so chunks do not run from one comment into the next.

A line that is not a valid ticket is a failure with its line number (the run goes on). When the
line still names an id, the failure is recorded under that ticket, so a previously indexed
version is removed rather than left stale; otherwise under ``<file>:<line>``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.acl import normalize_acl
from core.errors import SourceError
from core.settings import TicketSource
from index.chunking import Block
from pipelines.parsing import normalize_text
from pipelines.sources.base import Listing, ListingFailure, SourceEntry, TextContent


class TicketError(ValueError):
    """A ticket line that cannot be used (the message says which field and why)."""


def list_tickets(source: TicketSource) -> Listing:
    """Entries for every valid ticket line; failures (with line numbers) for the others."""
    path = source.path.expanduser().resolve()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"source '{source.id}': ticket export {source.path} does not exist") from None
    except OSError as exc:
        raise SourceError(f"source '{source.id}': cannot read ticket export {source.path}: {exc}") from exc
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    listing = Listing()
    seen: dict[str, int] = {}
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        ticket_id: str | None = None
        try:
            data = _load(line)
            ticket_id = _ticket_id(data)
            if ticket_id in seen:
                raise TicketError(f"duplicate ticket id {ticket_id!r} (first on line {seen[ticket_id]})")
            entry = ticket_entry(data, ticket_id, source, path, mtime)
        except TicketError as exc:
            duplicate = ticket_id is not None and ticket_id in seen
            locator = ticket_id if ticket_id is not None and not duplicate else where
            if ticket_id is not None and not duplicate:
                seen[ticket_id] = number
            listing.failures.append(
                ListingFailure(locator, "listing", f"line {number}: {exc}", keep_indexed=False)
            )
            continue
        seen[ticket_id] = number
        listing.entries.append(entry)
    return listing


def ticket_entry(
    data: dict[str, Any], ticket_id: str, source: TicketSource, path: Path, mtime: datetime
) -> SourceEntry:
    title = _text_field(data, "title")
    body = _text_field(data, "body")
    comments = _comments(data.get("comments"))
    acl = _acl(data["acl"]) if "acl" in data else source.default_acl
    updated = _timestamp(data.get("updated_at"), "updated_at") or _timestamp(
        data.get("created_at"), "created_at"
    )
    url = data.get("url")
    if url is not None and not isinstance(url, str):
        raise TicketError("'url' must be a string")
    content = render_ticket(title, body, comments, status=data.get("status"))
    canonical = json.dumps(
        {"title": title, "body": body, "comments": comments, "status": data.get("status")},
        sort_keys=True,
        ensure_ascii=False,
    )
    return SourceEntry(
        locator=ticket_id,
        uri=url or f"{path.as_uri()}#{ticket_id}",
        acl=acl,
        content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        fingerprint="",
        content=content,
        observed_at=mtime,
        title=content.title,
        updated_at=updated,
    )


def render_ticket(
    title: str, body: str, comments: list[dict[str, str]], *, status: object = None
) -> TextContent:
    """Ticket text (title, status, body, comments) with one block per paragraph, spans exact."""
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0

    def add(text: str, section: tuple[str, ...], *, is_title: bool = False) -> None:
        nonlocal offset
        text = normalize_text(text)
        if not text:
            return
        start = offset + (2 if parts else 0)
        parts.append(text)
        blocks.append(Block(start, start + len(text), section, None, is_title))
        offset = start + len(text)

    heading = normalize_text(title)
    add(heading, (heading,), is_title=True)
    if isinstance(status, str) and status.strip():
        add(f"Status: {status}", (heading,))
    for paragraph in _paragraphs(body):
        add(paragraph, (heading,))
    for n, comment in enumerate(comments, start=1):
        who = comment.get("author") or "unknown"
        when = comment.get("created_at")
        header = f"Comment {n} by {who}" + (f" on {when}" if when else "")
        section = (heading, normalize_text(header))
        add(header, section, is_title=True)
        for paragraph in _paragraphs(comment["body"]):
            add(paragraph, section)
    return TextContent(text="\n\n".join(parts), blocks=tuple(blocks), title=heading)


def _paragraphs(text: str) -> list[str]:
    return [p for p in (normalize_text(p) for p in text.replace("\r\n", "\n").split("\n\n")) if p]


def _load(line: bytes) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except UnicodeDecodeError as exc:
        raise TicketError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise TicketError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise TicketError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _ticket_id(data: dict[str, Any]) -> str:
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise TicketError("no 'id' (a non-empty string or number)")
    return str(value).strip()


def _text_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TicketError(f"no '{key}' (a non-empty string)")
    return value


def _acl(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TicketError("'acl' must be a list of ACL entries")
    try:
        return normalize_acl(value)
    except ValueError as exc:
        raise TicketError(str(exc)) from None


def _timestamp(value: Any, key: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TicketError(f"'{key}' must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TicketError(f"'{key}' {value!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _comments(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TicketError("'comments' must be a list")
    out: list[dict[str, str]] = []
    for i, item in enumerate(value, start=1):
        if isinstance(item, str):
            item = {"body": item}
        if not isinstance(item, dict) or not isinstance(item.get("body"), str):
            raise TicketError(f"comment {i} needs a 'body' string")
        out.append(
            {k: str(v) for k, v in item.items() if k in ("body", "author", "created_at") and v is not None}
        )
    return out
