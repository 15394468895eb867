"""The engine-independent pieces of every read: the ACL re-check and fetch's argument checks.

The re-check runs after each engine's own ACL filter (defence in depth; the contract suite proves
each engine filters without it). These tests pin what it does when an engine gets it wrong.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from core.acl import PUBLIC, Principal
from core.models import Chunk, ChunkSpan
from index.types import MAX_FETCH, Hit, SearchFilter, enforce_acl, fetch_target, fetched

CAROL = SearchFilter.for_principal(Principal(user_id="carol"))


def _chunk(name: str, acl: tuple[str, ...], start: int = 0) -> Chunk:
    return Chunk(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        document_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "doc")),
        source_id="src",
        text=name,
        span=ChunkSpan(start=start, end=start + len(name)),
        acl=acl,
        updated_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_enforce_acl_drops_forbidden_and_empty_acl_hits_and_reranks() -> None:
    hits = [
        Hit(chunk=_chunk("secret", ("group:board",)), score=0.9, rank=1),
        Hit(chunk=_chunk("locked", ()), score=0.8, rank=2),
        Hit(chunk=_chunk("open", (PUBLIC,)), score=0.7, rank=3),
        Hit(chunk=_chunk("mine", ("user:carol",)), score=0.6, rank=4),
    ]
    kept = enforce_acl(hits, CAROL)
    assert [(h.chunk.text, h.rank) for h in kept] == [("open", 1), ("mine", 2)]


def test_fetched_drops_what_the_principal_may_not_read_and_sorts_by_span() -> None:
    chunks = [
        _chunk("late", (PUBLIC,), 50),
        _chunk("secret", ("group:board",), 10),
        _chunk("early", (PUBLIC,), 0),
    ]
    assert [c.text for c in fetched(chunks, CAROL)] == ["early", "late"]


def test_fetch_target_drops_ids_that_are_not_uuids() -> None:
    real = str(uuid.uuid4())
    target = fetch_target(CAROL, None, ["nope", real, real, real.upper()])
    assert target is not None
    assert target.chunk_ids == (real,)
    assert fetch_target(CAROL, None, ["nope"]) is None
    assert fetch_target(CAROL, "not-a-document-id", None) is None


def test_fetch_target_refuses_unbounded_or_unfiltered_reads() -> None:
    with pytest.raises(ValueError, match="document_id or chunk_ids"):
        fetch_target(CAROL, None, None)
    with pytest.raises(TypeError, match="SearchFilter"):
        fetch_target({"acl": {"terms": [PUBLIC]}}, str(uuid.uuid4()), None)
    with pytest.raises(ValueError, match="at most"):
        fetch_target(CAROL, None, [str(uuid.uuid4()) for _ in range(MAX_FETCH + 1)])
