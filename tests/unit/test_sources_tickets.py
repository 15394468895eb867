"""Ticket exports: per-ticket ACL and updated_at, text with exact spans, malformed lines as failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import SourceError
from core.settings import TicketSource
from pipelines.sources.base import TextContent
from pipelines.sources.tickets import list_tickets

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline" / "tickets.jsonl"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return Path(shutil.copy(FIXTURE, tmp_path / "tickets.jsonl"))


def source(path: Path) -> TicketSource:
    return TicketSource(id="tickets", path=path, default_acl=("group:support",))


def test_valid_tickets_become_entries(export: Path) -> None:
    listing = list_tickets(source(export))
    entries = {e.locator: e for e in listing.entries}
    assert sorted(entries) == ["2", "T-1"]
    t1 = entries["T-1"]
    assert t1.acl == ("group:support", "user:alice")
    assert t1.title == "Printer on fire"
    assert t1.updated_at is not None
    assert t1.updated_at.isoformat() == "2026-03-02T11:00:00+00:00"
    assert t1.uri == f"{export.resolve().as_uri()}#T-1"
    t2 = entries["2"]
    assert t2.acl == ("group:support",)  # no acl field: the source's default
    assert t2.updated_at is not None
    assert t2.updated_at.isoformat() == "2026-04-01T09:00:00+00:00"


def test_ticket_text_is_title_body_comments_with_exact_spans(export: Path) -> None:
    [t1] = [e for e in list_tickets(source(export)).entries if e.locator == "T-1"]
    content = t1.content
    assert isinstance(content, TextContent)
    text = content.text
    assert text.startswith(
        "Printer on fire\n\nStatus: open\n\nThe printer on floor 2 is on fire.\n\nPlease send help."
    )
    assert "Comment 1 by bob on 2026-03-02T11:00:00Z\n\nExtinguished. Replacing the fuser." in text
    assert text.endswith("Comment 2 by unknown\n\nClosing after replacement.")
    for block in content.blocks:
        assert text[block.start : block.end].strip() == text[block.start : block.end]
        assert block.section_path[0] == "Printer on fire"
    comment_blocks = [b for b in content.blocks if len(b.section_path) == 2]
    assert {b.section_path[1] for b in comment_blocks} == {
        "Comment 1 by bob on 2026-03-02T11:00:00Z",
        "Comment 2 by unknown",
    }


def test_malformed_lines_are_failures_with_line_numbers(export: Path) -> None:
    failures = {f.locator: f for f in list_tickets(source(export)).failures}
    reasons = {loc: f.reason for loc, f in failures.items()}
    assert reasons["tickets.jsonl:3"].startswith("line 3: invalid JSON")
    assert reasons["tickets.jsonl:4"] == "line 4: expected a JSON object, got list"
    assert reasons["T-4"] == "line 5: no 'title' (a non-empty string)"  # id known: recorded under it
    assert "invalid ACL entry 'root'" in reasons["T-5"]
    assert reasons["tickets.jsonl:7"] == "line 7: duplicate ticket id 'T-1' (first on line 1)"
    assert "'updated_at' 'yesterday' is not an ISO 8601 timestamp" in reasons["T-6"]
    assert reasons["tickets.jsonl:10"].startswith("line 10: no 'id'")
    assert all(f.stage == "listing" and not f.keep_indexed for f in failures.values())


def test_content_hash_ignores_acl_and_dates(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id": "A", "title": "t", "body": "b", "acl": ["public"], "updated_at": "2026-01-01T00:00:00Z"}\n'
    )
    [before] = list_tickets(source(path)).entries
    path.write_text(
        '{"id": "A", "title": "t", "body": "b", "acl": ["group:x"], "updated_at": "2026-02-01T00:00:00Z"}\n'
    )
    [after] = list_tickets(source(path)).entries
    assert before.content_hash == after.content_hash  # an ACL change is not a content change
    assert before.acl != after.acl
    path.write_text('{"id": "A", "title": "t", "body": "b2", "acl": ["group:x"]}\n')
    [edited] = list_tickets(source(path)).entries
    assert edited.content_hash != after.content_hash


def test_missing_export_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        list_tickets(source(tmp_path / "nope.jsonl"))
