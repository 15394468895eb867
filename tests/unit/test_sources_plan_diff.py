"""From a listing and the manifest to a plan: which documents to add, change, rewrite, update or delete."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.ids import document_id
from pipelines.errors import MassDeleteError
from pipelines.manifest import Failure, IndexedDocument
from pipelines.plans import Action, PlannedDocument, check_mass_delete, diff
from pipelines.sources.base import FileContent, Listing, ListingFailure, SourceEntry

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)
SRC = "docs"


def entry(
    locator: str, *, content: str = "h", acl: tuple[str, ...] = ("group:a",), **kw: object
) -> SourceEntry:
    fields: dict[str, object] = {
        "locator": locator,
        "uri": f"file:///{locator}",
        "acl": acl,
        "content_hash": content,
        "fingerprint": f"fp-{content}",
        "content": FileContent(Path(locator)),
        "observed_at": T1,
    }
    fields.update(kw)
    return SourceEntry(**fields)  # type: ignore[arg-type]


def indexed(
    locator: str, *, content: str = "h", acl: tuple[str, ...] = ("group:a",), **kw: object
) -> IndexedDocument:
    fields: dict[str, object] = {
        "document_id": document_id(SRC, locator),
        "source_id": SRC,
        "locator": locator,
        "uri": f"file:///{locator}",
        "title": locator.upper(),
        "acl": acl,
        "updated_at": T0,
        "content_hash": content,
        "fingerprint": f"fp-{content}",
        "chunk_count": 2,
    }
    fields.update(kw)
    return IndexedDocument(**fields)  # type: ignore[arg-type]


def actions(planned: list[PlannedDocument]) -> dict[str, Action]:
    return {p.locator: p.action for p in planned}


def by_id(*docs: IndexedDocument) -> dict[str, IndexedDocument]:
    return {d.document_id: d for d in docs}


def test_unchanged_corpus_plans_nothing() -> None:
    planned, counts = diff(SRC, Listing([entry("a"), entry("b")]), by_id(indexed("a"), indexed("b")), [])
    assert planned == []
    assert counts.unchanged == 2
    assert counts.seen == 2


def test_each_kind_of_change() -> None:
    listing = Listing(
        [
            entry("new"),
            entry("edited", content="h2"),
            entry("acl", acl=("group:b",)),
            entry("touched", fingerprint="fp-other"),
            entry("retitled", title="A New Title"),
            entry("dated", updated_at=T1),
        ]
    )
    manifest = by_id(
        indexed("edited"),
        indexed("acl"),
        indexed("touched"),
        indexed("retitled"),
        indexed("dated"),
        indexed("gone"),
    )
    planned, counts = diff(SRC, listing, manifest, [])
    assert actions(planned) == {
        "new": Action.ADD,
        "edited": Action.CHANGE,
        "acl": Action.ACL,
        "touched": Action.REFRESH,
        "retitled": Action.CHANGE,  # the title is in the embedding input: new vectors
        "dated": Action.ACL,
        "gone": Action.DELETE,
    }
    assert (counts.added, counts.changed, counts.acl_changed, counts.deleted, counts.refreshed) == (
        1,
        2,
        2,
        1,
        1,
    )
    touched = next(p for p in planned if p.locator == "touched")
    assert touched.updated_at == T0  # a touch does not make a document newer
    edited = next(p for p in planned if p.locator == "edited")
    assert edited.updated_at == T1  # new content: the observed time (mtime) counts


def test_full_changes_everything_listed() -> None:
    planned, _ = diff(SRC, Listing([entry("a")]), by_id(indexed("a")), [], full=True)
    assert actions(planned) == {"a": Action.CHANGE}


def test_removed_explicit_title_needs_the_parsed_title_again() -> None:
    planned, _ = diff(SRC, Listing([entry("a")]), by_id(indexed("a", title_explicit=True)), [])
    assert actions(planned) == {"a": Action.CHANGE}


def test_known_parse_failure_is_not_parsed_again_until_it_changes() -> None:
    failure = Failure(
        SRC, "broken.pdf", document_id(SRC, "broken.pdf"), "parse", "no text", T0, T0, "h", "fp-h"
    )
    planned, counts = diff(SRC, Listing([entry("broken.pdf")]), {}, [failure])
    assert actions(planned) == {"broken.pdf": Action.FAIL}
    assert planned[0].reason == "no text"
    assert counts.failed == 1
    planned, _ = diff(SRC, Listing([entry("broken.pdf", content="fixed")]), {}, [failure])
    assert actions(planned) == {"broken.pdf": Action.ADD}


def test_listing_failures_keep_or_remove_what_was_indexed() -> None:
    listing = Listing(
        [],
        [
            ListingFailure("flaky", "fetch", "timed out", keep_indexed=True),
            ListingFailure("gone", "fetch", "HTTP 404", keep_indexed=False),
            ListingFailure("never", "acl", "bad sidecar", keep_indexed=False),
        ],
    )
    planned, counts = diff(SRC, listing, by_id(indexed("flaky"), indexed("gone")), [])
    assert actions(planned) == {"flaky": Action.FAIL, "gone": Action.DELETE, "never": Action.FAIL}
    assert all(p.status == "failed" for p in planned)
    assert counts.failed == 3


def test_dirty_documents_are_rewritten_and_phantoms_deleted() -> None:
    phantom = document_id(SRC, "crashed-add")
    dirty = {document_id(SRC, "a"), document_id(SRC, "b"), phantom}
    planned, counts = diff(
        SRC, Listing([entry("a"), entry("b", acl=("group:z",))]), by_id(indexed("a"), indexed("b")), [], dirty
    )
    got = {p.document_id: p.action for p in planned}
    assert got == {
        document_id(SRC, "a"): Action.REWRITE,
        document_id(SRC, "b"): Action.REWRITE,
        phantom: Action.DELETE,
    }
    assert all(p.dirty for p in planned)
    assert counts.repaired == 3


def test_mass_delete_guard() -> None:
    docs = by_id(*(indexed(f"d{i}") for i in range(4)))
    planned, _ = diff(SRC, Listing([entry("d0"), entry("d1")]), docs, [])
    check_mass_delete(SRC, planned, docs, 0.5, allowed=False)  # 2 of 4: at the limit, allowed
    planned, _ = diff(SRC, Listing([entry("d0")]), docs, [])
    with pytest.raises(MassDeleteError, match=r"delete 3 of its 4 indexed documents \(75%\)") as err:
        check_mass_delete(SRC, planned, docs, 0.5, allowed=False)
    assert "--allow-mass-delete" in str(err.value)
    check_mass_delete(SRC, planned, docs, 0.5, allowed=True)
    # an empty source with nothing indexed deletes nothing
    check_mass_delete(SRC, [], {}, 0.5, allowed=False)
