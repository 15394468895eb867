from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from core.acl import Principal, normalize_acl
from core.ids import chunk_id, document_id
from core.models import Chunk, Document

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _doc(text: str, locator: str = "a/b.md") -> Document:
    return Document.create(
        source_id="docs",
        locator=locator,
        title="T",
        uri=f"file:///{locator}",
        updated_at=NOW,
        acl=["group:eng"],
        text=text,
    )


def test_document_id_is_stable_and_depends_on_source_and_locator() -> None:
    assert document_id("docs", "a.md") == document_id("docs", "a.md")
    assert document_id("docs", "a.md") != document_id("docs", "b.md")
    assert document_id("docs", "a.md") != document_id("wiki", "a.md")
    # the id survives an edit; the content hash does not
    a, b = _doc("one"), _doc("two")
    assert a.id == b.id
    assert a.content_hash != b.content_hash


def test_chunk_ids_are_deterministic_and_change_with_content_or_span() -> None:
    doc = _doc("alpha beta gamma")
    c1 = Chunk.from_document(doc, 0, 10, ordinal=0)
    assert c1.id == Chunk.from_document(doc, 0, 10, ordinal=0).id
    assert c1.text == "alpha beta"
    assert c1.id != Chunk.from_document(doc, 0, 11, ordinal=0).id
    edited = _doc("alpha bXta gamma")
    assert Chunk.from_document(edited, 0, 10, ordinal=0).id != c1.id
    assert chunk_id(doc.id, 0, 10, "alpha beta") == c1.id


def test_acl_entries_are_validated_and_normalized() -> None:
    assert normalize_acl(["group:b", "public", "group:b", "user:a"]) == ("group:b", "public", "user:a")
    with pytest.raises(ValueError, match="invalid ACL entry"):
        normalize_acl(["everyone"])
    with pytest.raises(ValidationError):
        _doc("x").model_copy(update={}).model_validate({**_doc("x").model_dump(), "acl": ["role:x"]})


def test_principal_access_is_fail_closed() -> None:
    erin = Principal(user_id="erin")
    assert erin.may_read(["public"])
    assert erin.may_read(["user:erin"])
    assert not erin.may_read(["user:frank", "group:eng"])
    assert not erin.may_read([])  # empty ACL: nobody
    alice = Principal(user_id="alice", groups=("eng", "everyone"))
    assert alice.may_read(["group:eng"])
    assert set(alice.access_terms()) == {"public", "user:alice", "group:eng", "group:everyone"}
    with pytest.raises(ValidationError):
        Principal(user_id="bad id")
