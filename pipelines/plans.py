"""The plan of a run: what changes for one source, decided by diffing a listing with the manifest.

One plan per source (a new listing replaces an unapplied plan). It moves through
``listed -> parsed -> chunked -> embedded -> written`` and is deleted by the commit; it is
stored between stages by :mod:`pipelines.staging`.

Actions, decided by :func:`diff` from the listing and the committed manifest:

=========  ==========================================================  ====================
action     when                                                        stores
=========  ==========================================================  ====================
add        a new document                                              upsert
change     content or explicit title changed (or ``--full``)           replace
rewrite    uri changed, or a crashed run may have left it wrong        replace (no parse)
acl        only the ACL or updated_at changed                          payload update
delete     gone, or now failing for good (404, unreadable ACL)         delete
refresh    fingerprint changed, content identical (a ``touch``)        nothing
fail       failing, and nothing indexed to change                      nothing
=========  ==========================================================  ====================

"replace" deletes a document's chunks and upserts its new ones: the stores have no delete by
chunk id, and chunk ids change with their span, so this is what removes vanished chunks.
Embedding never runs twice for a text (the cache), so a replace re-embeds only changed texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from core.ids import document_id as make_document_id
from index.chunking import Block
from pipelines.errors import MassDeleteError
from pipelines.manifest import DocumentMeta, Failure, IndexedDocument, Manifest, utcnow
from pipelines.sources.base import Content, KnownDocument, Listing, SourceEntry


class Action(StrEnum):
    ADD = "add"
    CHANGE = "change"
    REWRITE = "rewrite"
    ACL = "acl"
    DELETE = "delete"
    REFRESH = "refresh"
    FAIL = "fail"


NEEDS_PARSE = frozenset({Action.ADD, Action.CHANGE})
REPLACES = frozenset({Action.CHANGE, Action.REWRITE})
WRITES = frozenset({Action.ADD, Action.CHANGE, Action.REWRITE, Action.ACL, Action.DELETE})


class Stage(StrEnum):
    LISTED = "listed"
    PARSED = "parsed"
    CHUNKED = "chunked"
    EMBEDDED = "embedded"
    WRITTEN = "written"

    @property
    def order(self) -> int:
        return list(Stage).index(self)


@dataclass(frozen=True)
class PlannedDocument:
    """One document's part of a plan: the target state and how to get there."""

    source_id: str
    document_id: str
    action: Action
    locator: str
    uri: str
    acl: tuple[str, ...]
    content_hash: str
    fingerprint: str
    observed_at: datetime
    title: str | None = None  # explicit title (sidecar, ticket); else the parsed one
    updated_at: datetime | None = None  # resolved at listing; None for failures and deletions
    validators: Mapping[str, str] = field(default_factory=dict)
    content: Content | None = None
    status: str = "pending"  # pending | parsed | failed
    stage: str | None = None  # where it failed
    reason: str | None = None
    keep_indexed: bool = False
    dirty: bool = False
    text: str | None = None
    blocks: tuple[Block, ...] = ()
    parsed_title: str | None = None

    def meta(self, previous: IndexedDocument | None = None) -> DocumentMeta:
        """The payload metadata of this document's chunks once the plan is applied."""
        title = self.title or self.parsed_title or (previous.title if previous else None) or self.locator
        updated = self.updated_at or self.observed_at
        return DocumentMeta(
            document_id=self.document_id,
            source_id=self.source_id,
            locator=self.locator,
            uri=self.uri,
            title=title,
            acl=self.acl,
            updated_at=updated,
        )


@dataclass(frozen=True)
class Plan:
    source_id: str
    plan_id: str
    stage: Stage
    full: bool
    allow_mass_delete: bool
    created_at: datetime
    run_id: str = ""
    base_generation: str | None = None
    generation_id: str | None = None
    target: str | None = None
    counts: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ListingCounts:
    seen: int = 0
    added: int = 0
    changed: int = 0
    rewritten: int = 0
    acl_changed: int = 0
    deleted: int = 0
    refreshed: int = 0
    failed: int = 0
    unchanged: int = 0
    repaired: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------- diff


def known_documents(manifest: Manifest, source_id: str) -> dict[str, KnownDocument]:
    """What listers may skip: indexed documents and parse failures, by locator."""
    known: dict[str, KnownDocument] = {}
    for failure in manifest.failures(source_id):
        if failure.fingerprint and failure.content_hash:
            known[failure.locator] = KnownDocument(failure.fingerprint, failure.content_hash)
    for doc in manifest.documents(source_id).values():
        known[doc.locator] = KnownDocument(doc.fingerprint, doc.content_hash, doc.validators)
    return known


def diff(
    source_id: str,
    listing: Listing,
    indexed: Mapping[str, IndexedDocument],
    failures: Iterable[Failure],
    dirty: Iterable[str] = (),
    *,
    full: bool = False,
) -> tuple[list[PlannedDocument], ListingCounts]:
    """The documents a run must act on, and what the listing amounts to."""
    dirty_ids = set(dirty)
    parse_failures = {f.locator: f for f in failures if f.stage == "parse"}
    planned: list[PlannedDocument] = []
    counts: dict[str, int] = dict.fromkeys(ListingCounts().as_dict(), 0)
    counts["seen"] = listing.seen
    listed: set[str] = set()

    def plan(p: PlannedDocument, counter: str) -> None:
        planned.append(p)
        counts[counter] += 1

    for entry in listing.entries:
        doc_id = make_document_id(source_id, entry.locator)
        listed.add(doc_id)
        previous = indexed.get(doc_id)
        base = _from_entry(source_id, doc_id, entry, previous)
        is_dirty = doc_id in dirty_ids
        if previous is None:
            failure = parse_failures.get(entry.locator)
            if (
                failure is not None
                and failure.content_hash == entry.content_hash
                and not full
                and not is_dirty
            ):
                plan(
                    replace(base, action=Action.FAIL, status="failed", stage="parse", reason=failure.reason),
                    "failed",
                )
            else:
                plan(replace(base, action=Action.ADD, dirty=is_dirty), "added")
            continue
        action, counter = _compare(entry, previous, base, full=full)
        if is_dirty and action in (None, Action.ACL, Action.REFRESH):
            action, counter = Action.REWRITE, "repaired"
        if action is None:
            counts["unchanged"] += 1
        else:
            plan(replace(base, action=action, dirty=is_dirty), counter)

    for lf in listing.failures:
        doc_id = make_document_id(source_id, lf.locator)
        listed.add(doc_id)
        previous = indexed.get(doc_id)
        gone = previous is not None and (not lf.keep_indexed or doc_id in dirty_ids)
        plan(
            PlannedDocument(
                source_id=source_id,
                document_id=doc_id,
                action=Action.DELETE if gone else Action.FAIL,
                locator=lf.locator,
                uri=previous.uri if previous else lf.locator,
                acl=previous.acl if previous else (),
                content_hash=lf.content_hash,
                fingerprint=lf.fingerprint,
                observed_at=utcnow(),
                status="failed",
                stage=lf.stage,
                reason=lf.reason,
                keep_indexed=lf.keep_indexed,
                dirty=doc_id in dirty_ids,
            ),
            "failed",
        )

    for doc_id, previous in indexed.items():
        if doc_id not in listed:
            plan(_deletion(previous, dirty=doc_id in dirty_ids), "deleted")
    for doc_id in sorted(dirty_ids - listed - set(indexed)):
        # a phantom: a crashed run wrote it, the manifest never knew it, the source no longer has it
        plan(
            PlannedDocument(
                source_id=source_id,
                document_id=doc_id,
                action=Action.DELETE,
                locator=doc_id,
                uri="",
                acl=(),
                content_hash="",
                fingerprint="",
                observed_at=utcnow(),
                dirty=True,
            ),
            "repaired",
        )
    return planned, ListingCounts(**counts)


def _from_entry(
    source_id: str, doc_id: str, entry: SourceEntry, previous: IndexedDocument | None
) -> PlannedDocument:
    updated = entry.updated_at
    if updated is None:
        unchanged = previous is not None and previous.content_hash == entry.content_hash
        # a touch is not an update: the observed time (mtime, fetch) counts only for new content
        updated = previous.updated_at if unchanged and previous is not None else entry.observed_at
    return PlannedDocument(
        source_id=source_id,
        document_id=doc_id,
        action=Action.ADD,
        locator=entry.locator,
        uri=entry.uri,
        acl=entry.acl,
        content_hash=entry.content_hash,
        fingerprint=entry.fingerprint,
        observed_at=entry.observed_at,
        title=entry.title,
        updated_at=updated,
        validators=dict(entry.validators),
        content=entry.content,
    )


def _compare(
    entry: SourceEntry, previous: IndexedDocument, base: PlannedDocument, *, full: bool
) -> tuple[Action | None, str]:
    if full or entry.content_hash != previous.content_hash:
        return Action.CHANGE, "changed"
    if entry.title is None and previous.title_explicit:
        return Action.CHANGE, "changed"  # the parsed title is needed again
    if entry.title is not None and entry.title != previous.title:
        # the title is part of every chunk's embedding input and shares its token window
        # (index.passages): a new title means new chunk bounds and new vectors
        return Action.CHANGE, "changed"
    if entry.uri != previous.uri:
        return Action.REWRITE, "rewritten"
    if entry.acl != previous.acl or base.updated_at != previous.updated_at:
        return Action.ACL, "acl_changed"
    if entry.fingerprint != previous.fingerprint or dict(entry.validators) != previous.validators:
        return Action.REFRESH, "refreshed"
    return None, "unchanged"


def _deletion(previous: IndexedDocument, *, dirty: bool) -> PlannedDocument:
    return PlannedDocument(
        source_id=previous.source_id,
        document_id=previous.document_id,
        action=Action.DELETE,
        locator=previous.locator,
        uri=previous.uri,
        acl=previous.acl,
        content_hash=previous.content_hash,
        fingerprint=previous.fingerprint,
        observed_at=utcnow(),
        dirty=dirty,
    )


def outcome_counts(planned: Iterable[PlannedDocument]) -> dict[str, int]:
    """What the plan did, by document, once parsing has run: a new document that failed to parse
    counts as failed (not added), a changed one that failed counts as failed and deleted."""
    counts = dict.fromkeys(("added", "changed", "acl_changed", "deleted", "failed", "repaired"), 0)
    for p in planned:
        if p.status == "failed":
            counts["failed"] += 1
        if p.action is Action.ADD and p.status == "parsed":
            counts["added"] += 1
        elif p.action is Action.CHANGE and p.status == "parsed":
            counts["changed"] += 1
        elif p.action is Action.REWRITE:
            counts["repaired" if p.dirty else "changed"] += 1
        elif p.action is Action.ACL:
            counts["acl_changed"] += 1
        elif p.action is Action.DELETE:
            counts["deleted"] += 1
    return counts


def check_mass_delete(
    source_id: str,
    planned: Iterable[PlannedDocument],
    indexed: Mapping[str, IndexedDocument],
    max_share: float,
    *,
    allowed: bool,
) -> None:
    """Raise :class:`MassDeleteError` if the plan deletes more than ``max_share`` of the source.

    Counted: indexed documents the plan removes (gone from the listing, or now failing for
    good). Phantoms a crashed run left behind were never indexed and do not count.
    """
    deleting = sum(1 for p in planned if p.action is Action.DELETE and p.document_id in indexed)
    if allowed or deleting == 0 or not indexed:
        return
    if deleting / len(indexed) > max_share:
        raise MassDeleteError(source_id, deleting, len(indexed), max_share)
