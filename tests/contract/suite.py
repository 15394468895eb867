"""The contract every store backend passes: vector stores and keyword stores alike.

How a backend plugs in
======================

A backend's test module subclasses :class:`StoreContract` (or only the behaviour classes it
needs) and provides one fixture, ``make_sut``: a factory that returns a *fresh, empty*
:class:`StoreUnderTest` on every call (each test calls it once; property tests reuse that store
across examples, deleting their documents in between) and cleans
everything up at teardown::

    from .suite import StoreContract, StoreUnderTest

    class TestEdgeVectors(StoreContract):
        @pytest.fixture
        def make_sut(self, tmp_path_factory) -> Iterator[Callable[[], StoreUnderTest]]:
            opened: list[StoreUnderTest] = []

            def make() -> StoreUnderTest:
                root = tmp_path_factory.mktemp("edge")
                store = EdgeVectorStore(root / "vectors", model_id=MODEL_ID, dimension=DIM)
                catalog = EmbeddedGenerationCatalog(root, "contract")
                sut = StoreUnderTest.dense("qdrant-edge", store, catalog, read_vectors=store.vectors)
                opened.append(sut)
                return sut

            yield make
            for sut in opened:
                sut.close()

``StoreUnderTest`` hides the one real difference between the two kinds of store: a dense store
is written with ``(chunks, vectors)`` and searched with a vector, a keyword store is written with
chunks and searched with text. Every test corpus item carries both (:class:`Item`), and every
query carries both (:class:`QueryCase`), so the same test body runs against either kind:

- ``write(items)``; ``search(query, flt, limit)`` (the case's ``vector`` for dense stores, its
  ``text`` for keyword stores); ``fetch``, ``delete_documents``, ``update_acl``, ``count``,
  ``chunk_ids`` pass straight through to the store;
- ``catalog``: the backend's :class:`index.types.GenerationCatalog`, fresh and empty;
- ``read_vectors`` (dense stores, optional): ``ids -> {id: vector}``, used to prove that an ACL
  update never re-embeds.

The corpus is built so both kinds rank the same way: each chunk's text is ``"groundwork
<topic> ..."`` and its vector points along that topic's axis. :data:`EVERYTHING` matches every
chunk in both kinds (the common word; any vector with ``limit`` above the corpus size), so
:func:`visible` gives the exact set of chunk ids a principal may see.

Stores must: call ``require_filter`` (a search or fetch without a ``SearchFilter`` is a ``TypeError``),
refuse ``limit < 1`` with ``ValueError``, push the ACL into the engine query, never return a
chunk with an empty ACL, return hits with ranks 1..n and non-increasing scores, and round-trip
every :class:`core.models.Chunk` field exactly (datetimes timezone-aware, in UTC).
"""

from __future__ import annotations

import math
import random
import sys
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.acl import PUBLIC, Principal
from core.models import Chunk, ChunkSpan
from index.errors import (
    GenerationNotFoundError,
    LiveGenerationError,
    NoPreviousGenerationError,
)
from index.types import GenerationCatalog, Hit, KeywordStore, SearchFilter, VectorStore

DIM = 16
MODEL_ID = "contract/synthetic-16d"
TOPICS = ("aurora", "basalt", "cobalt", "dolomite", "ember", "fjord", "glacier", "harbor")
COMMON_WORD = "groundwork"
BASE_TIME = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
WIDE = 1000  # a limit larger than any contract corpus

ReadVectors = Callable[[Sequence[str]], dict[str, list[float]]]


# --------------------------------------------------------------------------- test data


def _normalize(v: Sequence[float]) -> tuple[float, ...]:
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return tuple(x / n for x in v)


def topic_vector(topic: int, seed: int, spread: float = 0.15) -> tuple[float, ...]:
    """A unit vector near topic's axis; ``seed`` adds a small deterministic jitter."""
    rng = random.Random(seed)
    v = [rng.uniform(0.0, spread) for _ in range(DIM)]
    v[topic % DIM] = 1.0
    return _normalize(v)


@dataclass(frozen=True)
class QueryCase:
    """One query in both forms: ``text`` for keyword stores, ``vector`` for dense stores."""

    text: str
    vector: tuple[float, ...]


def topic_query(topic: int) -> QueryCase:
    return QueryCase(text=TOPICS[topic], vector=_normalize([1.0 if i == topic else 0.0 for i in range(DIM)]))


EVERYTHING = QueryCase(text=COMMON_WORD, vector=_normalize([1.0] * DIM))


@dataclass(frozen=True)
class Item:
    """A chunk with the vector a dense store stores for it."""

    chunk: Chunk
    vector: tuple[float, ...]


def make_item(
    doc: str,
    ordinal: int = 0,
    *,
    topic: int = 0,
    acl: Sequence[str] = (PUBLIC,),
    source_id: str = "src-a",
    updated_at: datetime = BASE_TIME,
    seed: int | None = None,
) -> Item:
    """One chunk of document ``doc`` (the name doubles as its id) about ``TOPICS[topic]``."""
    text = f"{COMMON_WORD} {TOPICS[topic]} note {doc} part {ordinal}"
    start = ordinal * 100
    chunk = Chunk(
        id=_uuid(f"{doc}#{ordinal}"),
        document_id=_uuid(doc),
        source_id=source_id,
        text=text,
        span=ChunkSpan(start=start, end=start + len(text)),
        section_path=("Guide", f"Part {ordinal}"),
        page=ordinal + 1,
        title=f"Title of {doc}",
        uri=f"file:///corpus/{doc}.md",
        acl=tuple(acl),
        updated_at=updated_at,
        ordinal=ordinal,
    )
    return Item(
        chunk=chunk,
        vector=topic_vector(topic, seed if seed is not None else zlib.crc32(f"{doc}#{ordinal}".encode())),
    )


def _uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"groundwork-contract/{name}"))


def doc_id(doc: str) -> str:
    """The document id :func:`make_item` gives document ``doc``."""
    return _uuid(doc)


ALICE = Principal(user_id="alice", groups=("eng",))
BOB = Principal(user_id="bob", groups=("hr",))
CAROL = Principal(user_id="carol")


def standard_corpus() -> list[Item]:
    """Nine chunks over six documents, two sources, three ACL shapes, one empty ACL, one old doc."""
    return [
        make_item("pub", 0, topic=0, acl=[PUBLIC], source_id="src-a"),
        make_item("pub", 1, topic=1, acl=[PUBLIC], source_id="src-a"),
        make_item("alice-notes", 0, topic=0, acl=["user:alice"], source_id="src-a"),
        make_item("eng-spec", 0, topic=0, acl=["group:eng"], source_id="src-b"),
        make_item("eng-spec", 1, topic=1, acl=["group:eng"], source_id="src-b"),
        make_item("hr-policy", 0, topic=0, acl=["group:hr", "user:carol"], source_id="src-b"),
        make_item("locked", 0, topic=0, acl=[], source_id="src-a"),
        make_item("locked", 1, topic=1, acl=[], source_id="src-a"),
        make_item(
            "old-memo",
            0,
            topic=2,
            acl=[PUBLIC],
            source_id="src-c",
            updated_at=datetime(2020, 1, 1, tzinfo=UTC),
        ),
    ]


def ids_of(items: Sequence[Item], *docs: str) -> set[str]:
    wanted = {doc_id(d) for d in docs}
    return {it.chunk.id for it in items if it.chunk.document_id in wanted}


def allowed_ids(items: Sequence[Item], principal: Principal) -> set[str]:
    """Ground truth: the chunk ids ``principal`` may read."""
    return {it.chunk.id for it in items if principal.may_read(it.chunk.acl)}


# --------------------------------------------------------------------------- the adapter


@dataclass
class StoreUnderTest:
    """One backend's store and generation catalog, behind the interface the contract uses."""

    name: str
    kind: Literal["dense", "keyword"]
    store: VectorStore | KeywordStore
    catalog: GenerationCatalog
    read_vectors: ReadVectors | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def dense(
        cls,
        name: str,
        store: VectorStore,
        catalog: GenerationCatalog,
        read_vectors: ReadVectors | None = None,
    ) -> StoreUnderTest:
        return cls(name=name, kind="dense", store=store, catalog=catalog, read_vectors=read_vectors)

    @classmethod
    def keyword(cls, name: str, store: KeywordStore, catalog: GenerationCatalog) -> StoreUnderTest:
        return cls(name=name, kind="keyword", store=store, catalog=catalog)

    def write(self, items: Sequence[Item]) -> None:
        chunks = [it.chunk for it in items]
        if self.kind == "dense":
            self._dense().upsert(chunks, [list(it.vector) for it in items])
        else:
            self._keyword().upsert(chunks)

    def search(self, query: QueryCase, flt: SearchFilter, limit: int = 10) -> list[Hit]:
        if self.kind == "dense":
            return self._dense().search(list(query.vector), flt, limit)
        return self._keyword().search(query.text, flt, limit)

    def raw_search(self, query: QueryCase, flt: Any, limit: int) -> list[Hit]:
        """Search with unchecked arguments (to test refusals)."""
        arg: Any = list(query.vector) if self.kind == "dense" else query.text
        return self.store.search(arg, flt, limit)

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        self.store.delete_documents(document_ids)

    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int:
        return self.store.update_acl(document_id, acl, updated_at)

    def fetch(
        self, flt: Any, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]:
        return self.store.fetch(flt, document_id=document_id, chunk_ids=chunk_ids)

    def count(self) -> int:
        return self.store.count()

    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]:
        return self.store.chunk_ids(document_id=document_id, source_id=source_id)

    def close(self) -> None:
        self.store.close()

    def _dense(self) -> VectorStore:
        assert self.kind == "dense"
        return self.store  # type: ignore[return-value]

    def _keyword(self) -> KeywordStore:
        assert self.kind == "keyword"
        return self.store  # type: ignore[return-value]


def assert_same_vectors(after: dict[str, list[float]], before: dict[str, list[float]]) -> None:
    """Vectors unchanged up to float32 round-off (an engine may re-normalize a unit vector on a
    payload write; a re-embedding would move it far more than 1e-5)."""
    assert after.keys() == before.keys()
    for key, old in before.items():
        assert max(abs(a - b) for a, b in zip(after[key], old, strict=True)) < 1e-5, key


def visible(sut: StoreUnderTest, principal: Principal, **narrowing: Any) -> set[str]:
    """Every chunk id ``principal`` finds (with optional narrowing): the EVERYTHING query, wide."""
    hits = sut.search(EVERYTHING, SearchFilter.for_principal(principal, **narrowing), WIDE)
    return {h.chunk.id for h in hits}


# --------------------------------------------------------------------------- the contract


class _Base:
    """Provides ``sut`` (one fresh store per test) from the backend's ``make_sut`` factory."""

    @pytest.fixture
    def sut(self, make_sut: Callable[[], StoreUnderTest]) -> StoreUnderTest:
        return make_sut()

    @pytest.fixture
    def loaded(self, sut: StoreUnderTest) -> tuple[StoreUnderTest, list[Item]]:
        items = standard_corpus()
        sut.write(items)
        return sut, items


class UpsertContract(_Base):
    def test_empty_store_counts_zero_and_finds_nothing(self, sut: StoreUnderTest) -> None:
        assert sut.count() == 0
        assert sut.search(EVERYTHING, SearchFilter.for_principal(ALICE), 10) == []

    def test_upsert_then_count(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        assert sut.count() == len(items)

    def test_upsert_is_idempotent(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        sut.write(items)
        assert sut.count() == len(items)

    def test_empty_upsert_is_a_noop(self, sut: StoreUnderTest) -> None:
        sut.write([])
        assert sut.count() == 0

    def test_hit_round_trips_every_chunk_field(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        by_id = {it.chunk.id: it.chunk for it in items}
        hits = sut.search(EVERYTHING, SearchFilter.for_principal(ALICE), WIDE)
        assert hits
        for hit in hits:
            assert hit.chunk == by_id[hit.chunk.id]
            assert hit.chunk.updated_at.tzinfo is not None

    def test_reupsert_replaces_the_payload(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        first = items[0]
        moved = Item(chunk=first.chunk.model_copy(update={"acl": ("user:dave",)}), vector=first.vector)
        sut.write([moved])
        assert sut.count() == len(items)
        assert first.chunk.id not in visible(sut, ALICE)
        assert first.chunk.id in visible(sut, Principal(user_id="dave"))


class DeleteContract(_Base):
    def test_delete_documents_removes_all_their_chunks(
        self, loaded: tuple[StoreUnderTest, list[Item]]
    ) -> None:
        sut, items = loaded
        sut.delete_documents([doc_id("pub"), doc_id("eng-spec")])
        gone = ids_of(items, "pub", "eng-spec")
        assert sut.count() == len(items) - len(gone)
        assert not (visible(sut, ALICE) & gone)
        assert sut.chunk_ids(document_id=doc_id("pub")) == set()

    def test_delete_leaves_other_documents(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        sut.delete_documents([doc_id("pub")])
        assert visible(sut, ALICE) == allowed_ids(items, ALICE) - ids_of(items, "pub")

    def test_delete_unknown_or_nothing_is_a_noop(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        sut.delete_documents([])
        sut.delete_documents([doc_id("never-indexed")])
        assert sut.count() == len(items)


class AclUpdateContract(_Base):
    def test_revoking_a_group_hides_the_document_at_once(
        self, loaded: tuple[StoreUnderTest, list[Item]]
    ) -> None:
        sut, items = loaded
        assert ids_of(items, "eng-spec") <= visible(sut, ALICE)
        touched = sut.update_acl(doc_id("eng-spec"), ["group:hr"])
        assert touched == 2
        assert not (ids_of(items, "eng-spec") & visible(sut, ALICE))
        assert ids_of(items, "eng-spec") <= visible(sut, BOB)

    def test_granting_access_shows_the_document(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        assert sut.update_acl(doc_id("locked"), [PUBLIC]) == 2
        assert ids_of(items, "locked") <= visible(sut, CAROL)

    def test_emptying_the_acl_hides_from_everyone(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        sut.update_acl(doc_id("pub"), [])
        for p in (ALICE, BOB, CAROL):
            assert not (ids_of(items, "pub") & visible(sut, p))

    def test_acl_update_keeps_every_other_field(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        sut.update_acl(doc_id("eng-spec"), ["group:eng", "user:bob"])
        hits = sut.search(EVERYTHING, SearchFilter.for_principal(BOB), WIDE)
        by_id = {it.chunk.id: it.chunk for it in items}
        updated = [h.chunk for h in hits if h.chunk.document_id == doc_id("eng-spec")]
        assert len(updated) == 2
        for chunk in updated:
            assert chunk == by_id[chunk.id].model_copy(update={"acl": ("group:eng", "user:bob")})

    def test_acl_update_can_move_updated_at(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        later = BASE_TIME + timedelta(days=30)
        sut.update_acl(doc_id("old-memo"), [PUBLIC], updated_at=later)
        found = visible(sut, CAROL, updated_after=BASE_TIME + timedelta(days=1))
        assert found == ids_of(items, "old-memo")

    def test_acl_update_of_unknown_document_touches_nothing(self, sut: StoreUnderTest) -> None:
        assert sut.update_acl(doc_id("never-indexed"), [PUBLIC]) == 0
        assert sut.count() == 0

    def test_acl_update_never_reembeds(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        if sut.read_vectors is None:
            pytest.skip(f"{sut.name} stores no vectors")
        ids = sorted(ids_of(items, "eng-spec"))
        before = sut.read_vectors(ids)
        sut.update_acl(doc_id("eng-spec"), ["group:hr"])
        assert_same_vectors(sut.read_vectors(ids), before)


class FilteredSearchContract(_Base):
    def test_each_principal_sees_exactly_what_its_acl_allows(
        self, loaded: tuple[StoreUnderTest, list[Item]]
    ) -> None:
        sut, items = loaded
        for p in (ALICE, BOB, CAROL, Principal(user_id="mallory", groups=("sales",))):
            assert visible(sut, p) == allowed_ids(items, p), p

    def test_an_empty_acl_is_never_returned(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        locked = ids_of(items, "locked")
        for p in (ALICE, BOB, CAROL):
            for q in (EVERYTHING, topic_query(0), topic_query(1)):
                assert not (locked & {h.chunk.id for h in sut.search(q, SearchFilter.for_principal(p), WIDE)})

    def test_forbidden_hits_do_not_crowd_out_the_top_k(self, sut: StoreUnderTest) -> None:
        # 40 forbidden chunks exactly on topic, one allowed chunk on another topic:
        # with the filter in the engine, limit=1 still returns the allowed one.
        forbidden = [make_item(f"secret-{i}", topic=3, acl=["group:board"], seed=i) for i in range(40)]
        allowed = make_item("lunch-menu", topic=4, acl=[PUBLIC])
        sut.write([*forbidden, allowed])
        hits = sut.search(
            QueryCase(text=f"{TOPICS[3]} {COMMON_WORD}", vector=topic_query(3).vector),
            SearchFilter.for_principal(CAROL),
            1,
        )
        assert [h.chunk.id for h in hits] == [allowed.chunk.id]

    def test_on_topic_chunk_ranks_first(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        hits = sut.search(topic_query(1), SearchFilter.for_principal(ALICE), 3)
        assert hits[0].chunk.id in ids_of(items, "pub", "eng-spec")
        assert TOPICS[1] in hits[0].chunk.text

    def test_ranks_and_scores_are_ordered(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, _ = loaded
        hits = sut.search(topic_query(0), SearchFilter.for_principal(ALICE), WIDE)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)

    def test_limit_is_respected(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, _ = loaded
        assert len(sut.search(EVERYTHING, SearchFilter.for_principal(ALICE), 2)) == 2

    def test_source_filter(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        got = visible(sut, ALICE, source_ids=("src-b",))
        assert got == ids_of(items, "eng-spec")
        both = visible(sut, ALICE, source_ids=("src-b", "src-c"))
        assert both == ids_of(items, "eng-spec", "old-memo")

    def test_updated_at_range_filter(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        cutoff = datetime(2023, 1, 1, tzinfo=UTC)
        assert visible(sut, CAROL, updated_before=cutoff) == ids_of(items, "old-memo")
        assert visible(sut, CAROL, updated_after=cutoff) == allowed_ids(items, CAROL) - ids_of(
            items, "old-memo"
        )

    def test_range_bounds_are_inclusive(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        exact = visible(sut, CAROL, updated_after=BASE_TIME, updated_before=BASE_TIME)
        assert exact == allowed_ids(items, CAROL) - ids_of(items, "old-memo")

    def test_acl_and_narrowing_combine(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        got = visible(sut, BOB, source_ids=("src-b",), updated_after=datetime(2023, 1, 1, tzinfo=UTC))
        assert got == ids_of(items, "hr-policy")

    def test_the_engine_filter_alone_enforces_the_acl(
        self, loaded: tuple[StoreUnderTest, list[Item]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The re-check after the engine (enforce_acl, fetched) is defence in depth, never the
        only guard: with it switched off, search and fetch still return exactly what is allowed."""
        sut, items = loaded
        module = sys.modules[type(sut.store).__module__]
        monkeypatch.setattr(module, "enforce_acl", lambda hits, flt: hits)
        monkeypatch.setattr(module, "fetched", lambda chunks, flt: list(chunks))
        every_id = [it.chunk.id for it in items]
        for p in (ALICE, BOB, CAROL, Principal(user_id="mallory", groups=("sales",))):
            assert visible(sut, p) == allowed_ids(items, p), p
            got = sut.fetch(SearchFilter.for_principal(p), chunk_ids=every_id)
            assert {c.id for c in got} == allowed_ids(items, p), p

    def test_search_without_a_filter_is_refused(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, _ = loaded
        with pytest.raises(TypeError):
            sut.raw_search(EVERYTHING, None, 5)
        with pytest.raises(TypeError):
            sut.raw_search(EVERYTHING, {"acl": {"terms": ["public"]}}, 5)

    def test_non_positive_limit_is_refused(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, _ = loaded
        with pytest.raises(ValueError, match="limit"):
            sut.search(EVERYTHING, SearchFilter.for_principal(ALICE), 0)


class CountAndIdsContract(_Base):
    def test_chunk_ids_by_document(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        assert sut.chunk_ids(document_id=doc_id("eng-spec")) == ids_of(items, "eng-spec")
        # chunk_ids is an admin listing: it ignores ACLs, so empty-ACL chunks are listed too
        assert sut.chunk_ids(document_id=doc_id("locked")) == ids_of(items, "locked")

    def test_chunk_ids_by_source(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        assert sut.chunk_ids(source_id="src-b") == ids_of(items, "eng-spec", "hr-policy")

    def test_chunk_ids_by_both_and_all(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        assert sut.chunk_ids(document_id=doc_id("pub"), source_id="src-b") == set()
        assert sut.chunk_ids() == {it.chunk.id for it in items}

    def test_chunk_ids_pages_past_one_scroll(self, sut: StoreUnderTest) -> None:
        items = [make_item(f"bulk-{i // 4}", i % 4, topic=i % len(TOPICS), seed=i) for i in range(300)]
        sut.write(items)
        assert sut.count() == 300
        assert sut.chunk_ids() == {it.chunk.id for it in items}
        assert sut.chunk_ids(document_id=doc_id("bulk-7")) == ids_of(items, "bulk-7")


class FetchContract(_Base):
    """``fetch``: stored chunks by document or id, through the same engine ACL filter as search."""

    def test_fetch_a_document_in_document_order(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        got = sut.fetch(SearchFilter.for_principal(ALICE), document_id=doc_id("pub"))
        expected = sorted((it.chunk for it in items if it.chunk.document_id == doc_id("pub")), key=_order)
        assert got == expected  # every field round-trips, in span order
        assert all(c.updated_at.tzinfo is not None for c in got)

    def test_fetch_by_ids_returns_exactly_the_readable_ones(
        self, loaded: tuple[StoreUnderTest, list[Item]]
    ) -> None:
        sut, items = loaded
        every_id = [it.chunk.id for it in items]
        for p in (ALICE, BOB, CAROL, Principal(user_id="mallory", groups=("sales",))):
            got = sut.fetch(SearchFilter.for_principal(p), chunk_ids=every_id)
            assert {c.id for c in got} == allowed_ids(items, p), p
            assert got == sorted(got, key=_order)

    def test_a_forbidden_chunk_is_indistinguishable_from_a_missing_one(
        self, loaded: tuple[StoreUnderTest, list[Item]]
    ) -> None:
        sut, items = loaded
        bob = SearchFilter.for_principal(BOB)
        missing_doc = sut.fetch(bob, document_id=doc_id("never-indexed"))
        missing_ids = sut.fetch(bob, chunk_ids=[_uuid("never-indexed#0")])
        assert missing_doc == missing_ids == []
        assert sut.fetch(bob, document_id=doc_id("eng-spec")) == missing_doc
        assert sut.fetch(bob, chunk_ids=sorted(ids_of(items, "eng-spec"))) == missing_ids
        for p in (ALICE, BOB, CAROL):  # an empty ACL is readable by nobody
            flt = SearchFilter.for_principal(p)
            assert sut.fetch(flt, document_id=doc_id("locked")) == []
            assert sut.fetch(flt, chunk_ids=sorted(ids_of(items, "locked"))) == []

    def test_document_and_ids_combine(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        pub = [it.chunk for it in items if it.chunk.document_id == doc_id("pub")]
        ids = [pub[1].id, *sorted(ids_of(items, "eng-spec"))]  # one of pub's, two of another document's
        got = sut.fetch(SearchFilter.for_principal(ALICE), document_id=doc_id("pub"), chunk_ids=ids)
        assert got == [pub[1]]

    def test_narrowing_applies_as_in_search(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        every_id = [it.chunk.id for it in items]
        src_b = SearchFilter.for_principal(ALICE, source_ids=("src-b",))
        assert {c.id for c in sut.fetch(src_b, chunk_ids=every_id)} == ids_of(items, "eng-spec")
        recent = SearchFilter.for_principal(CAROL, updated_after=datetime(2023, 1, 1, tzinfo=UTC))
        assert {c.id for c in sut.fetch(recent, chunk_ids=every_id)} == allowed_ids(items, CAROL) - ids_of(
            items, "old-memo"
        )
        nowhere = SearchFilter.for_principal(ALICE, source_ids=())
        assert sut.fetch(nowhere, chunk_ids=every_id) == []

    def test_revoking_access_hides_fetched_chunks_at_once(
        self, loaded: tuple[StoreUnderTest, list[Item]]
    ) -> None:
        sut, _ = loaded
        alice = SearchFilter.for_principal(ALICE)
        assert len(sut.fetch(alice, document_id=doc_id("eng-spec"))) == 2
        sut.update_acl(doc_id("eng-spec"), ["group:hr"])
        assert sut.fetch(alice, document_id=doc_id("eng-spec")) == []
        assert len(sut.fetch(SearchFilter.for_principal(BOB), document_id=doc_id("eng-spec"))) == 2

    def test_fetch_needs_a_filter_and_a_target(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, _ = loaded
        with pytest.raises(TypeError):
            sut.fetch(None, document_id=doc_id("pub"))
        with pytest.raises(TypeError):
            sut.fetch({"acl": {"terms": ["public"]}}, document_id=doc_id("pub"))
        with pytest.raises(ValueError, match="document_id or chunk_ids"):
            sut.fetch(SearchFilter.for_principal(ALICE))
        with pytest.raises(TypeError, match="sequence"):
            sut.fetch(SearchFilter.for_principal(ALICE), chunk_ids=doc_id("pub"))

    def test_ids_that_are_not_ids_find_nothing(self, loaded: tuple[StoreUnderTest, list[Item]]) -> None:
        sut, items = loaded
        alice = SearchFilter.for_principal(ALICE)
        assert sut.fetch(alice, document_id="pub") == []
        assert sut.fetch(alice, chunk_ids=[]) == []
        hostile = ["pub#0", "' OR 1=1 --", "*", items[0].chunk.id.upper()]
        assert sut.fetch(alice, chunk_ids=hostile) == []
        assert sut.fetch(alice, chunk_ids=[*hostile, items[0].chunk.id]) == [items[0].chunk]

    def test_fetch_reads_past_one_scroll_page(self, sut: StoreUnderTest) -> None:
        items = [make_item("long-manual", i, topic=i % len(TOPICS), seed=i) for i in range(2100)]
        sut.write(items)
        got = sut.fetch(SearchFilter.for_principal(CAROL), document_id=doc_id("long-manual"))
        assert [c.ordinal for c in got] == list(range(2100))


def _order(chunk: Chunk) -> tuple[str, int, int, str]:
    return (chunk.document_id, chunk.span.start, chunk.span.end, chunk.id)


class GenerationContract(_Base):
    @pytest.fixture
    def catalog(self, sut: StoreUnderTest) -> GenerationCatalog:
        return sut.catalog

    def test_new_catalog_is_empty(self, catalog: GenerationCatalog) -> None:
        assert catalog.live() is None
        assert catalog.generations() == []

    def test_create_records_the_model(self, catalog: GenerationCatalog) -> None:
        info = catalog.create(MODEL_ID, DIM)
        assert info.embedding_model == MODEL_ID
        assert info.dimension == DIM
        assert not info.live
        assert info.promoted_at is None
        assert [g.id for g in catalog.generations()] == [info.id]
        assert catalog.live() is None

    def test_generations_are_listed_newest_first(self, catalog: GenerationCatalog) -> None:
        made = [catalog.create(MODEL_ID, DIM).id for _ in range(3)]
        assert [g.id for g in catalog.generations()] == list(reversed(made))
        assert len(set(made)) == 3

    def test_promote_makes_live(self, catalog: GenerationCatalog) -> None:
        a = catalog.create(MODEL_ID, DIM)
        promoted = catalog.promote(a.id)
        assert promoted.live
        assert promoted.promoted_at is not None
        live = catalog.live()
        assert live is not None
        assert live.id == a.id
        assert [g.id for g in catalog.generations() if g.live] == [a.id]

    def test_promote_swaps_and_rollback_restores(self, catalog: GenerationCatalog) -> None:
        a = catalog.create(MODEL_ID, DIM)
        b = catalog.create(MODEL_ID, DIM)
        catalog.promote(a.id)
        catalog.promote(b.id)
        assert _live_id(catalog) == b.id
        restored = catalog.rollback()
        assert restored.id == a.id
        assert _live_id(catalog) == a.id
        assert [g.id for g in catalog.generations() if g.live] == [a.id]

    def test_rollback_without_a_previous_is_refused(self, catalog: GenerationCatalog) -> None:
        with pytest.raises(NoPreviousGenerationError):
            catalog.rollback()
        catalog.promote(catalog.create(MODEL_ID, DIM).id)
        with pytest.raises(NoPreviousGenerationError):
            catalog.rollback()

    def test_promote_unknown_is_refused(self, catalog: GenerationCatalog) -> None:
        with pytest.raises(GenerationNotFoundError):
            catalog.promote("no-such-generation")

    def test_drop(self, catalog: GenerationCatalog) -> None:
        a = catalog.create(MODEL_ID, DIM)
        b = catalog.create(MODEL_ID, DIM)
        catalog.promote(a.id)
        catalog.drop(b.id)
        assert [g.id for g in catalog.generations()] == [a.id]
        with pytest.raises(LiveGenerationError):
            catalog.drop(a.id)
        with pytest.raises(GenerationNotFoundError):
            catalog.drop(b.id)

    def test_gc_keeps_live_and_previous(self, catalog: GenerationCatalog) -> None:
        a, b, c, d = (catalog.create(MODEL_ID, DIM) for _ in range(4))
        catalog.promote(b.id)
        catalog.promote(c.id)  # live c, previous b; a older, d newer and never promoted
        dropped = catalog.gc(keep=2)
        assert set(dropped) == {a.id, d.id}
        assert {g.id for g in catalog.generations()} == {b.id, c.id}
        assert catalog.rollback().id == b.id

    def test_gc_keep_one_leaves_only_live(self, catalog: GenerationCatalog) -> None:
        gens = [catalog.create(MODEL_ID, DIM) for _ in range(3)]
        catalog.promote(gens[1].id)
        dropped = catalog.gc(keep=1)
        assert set(dropped) == {gens[0].id, gens[2].id}
        assert [g.id for g in catalog.generations()] == [gens[1].id]


def _live_id(catalog: GenerationCatalog) -> str:
    live = catalog.live()
    assert live is not None
    return live.id


# --------------------------------------------------------------------------- properties

_USERS = ("u0", "u1", "u2", "u3")
_GROUPS = ("g0", "g1", "g2")
_ENTRIES = (PUBLIC, *(f"user:{u}" for u in _USERS), *(f"group:{g}" for g in _GROUPS))

_MAX_DOCS = 8
_acl_strategy = st.lists(st.sampled_from(_ENTRIES), max_size=3, unique=True)
_principal_strategy = st.builds(
    Principal,
    user_id=st.sampled_from(_USERS),
    groups=st.lists(st.sampled_from(_GROUPS), max_size=2, unique=True).map(tuple),
)


@st.composite
def _corpora(draw: st.DrawFn) -> list[Item]:
    n_docs = draw(st.integers(min_value=1, max_value=_MAX_DOCS))
    items: list[Item] = []
    for d in range(n_docs):
        acl = draw(_acl_strategy)
        for o in range(draw(st.integers(min_value=1, max_value=3))):
            items.append(make_item(f"prop-{d}", o, topic=draw(st.integers(0, 7)), acl=acl, seed=d * 10 + o))
    return items


class AclPropertyContract(_Base):
    """Random users, groups and documents: the ACL holds for every query, always.

    One store serves all examples of a test: each example first deletes every document the
    strategy can produce, which keeps examples independent and fast on every engine.
    """

    property_examples = 25

    def _settings(self) -> settings:
        return settings(
            max_examples=self.property_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )

    @staticmethod
    def _reset(sut: StoreUnderTest, corpus: list[Item]) -> None:
        sut.delete_documents([doc_id(f"prop-{d}") for d in range(_MAX_DOCS)])
        assert sut.count() == 0
        sut.write(corpus)

    def test_no_result_ever_violates_the_acl(self, sut: StoreUnderTest) -> None:
        @self._settings()
        @given(corpus=_corpora(), principals=st.lists(_principal_strategy, min_size=1, max_size=3))
        def check(corpus: list[Item], principals: list[Principal]) -> None:
            self._reset(sut, corpus)
            for p in principals:
                flt = SearchFilter.for_principal(p)
                for q in (EVERYTHING, topic_query(0), topic_query(5)):
                    for h in sut.search(q, flt, WIDE):
                        assert h.chunk.acl, "a chunk with an empty ACL was returned"
                        assert p.may_read(h.chunk.acl), f"{p} read {h.chunk.acl}"
                assert visible(sut, p) == allowed_ids(corpus, p)

        check()

    def test_fetch_never_violates_the_acl(self, sut: StoreUnderTest) -> None:
        @self._settings()
        @given(corpus=_corpora(), principals=st.lists(_principal_strategy, min_size=1, max_size=3))
        def check(corpus: list[Item], principals: list[Principal]) -> None:
            self._reset(sut, corpus)
            every_id = [it.chunk.id for it in corpus]
            documents = sorted({it.chunk.document_id for it in corpus})
            for p in principals:
                flt = SearchFilter.for_principal(p)
                assert {c.id for c in sut.fetch(flt, chunk_ids=every_id)} == allowed_ids(corpus, p)
                for document in documents:
                    got = {c.id for c in sut.fetch(flt, document_id=document)}
                    in_document = [it for it in corpus if it.chunk.document_id == document]
                    assert got == allowed_ids(in_document, p), (p, document)

        check()

    def test_revoking_a_group_takes_effect_without_reembedding(self, sut: StoreUnderTest) -> None:
        @self._settings()
        @given(corpus=_corpora(), group=st.sampled_from(_GROUPS), user=st.sampled_from(_USERS))
        def check(corpus: list[Item], group: str, user: str) -> None:
            self._reset(sut, corpus)
            member = Principal(user_id=user, groups=(group,))
            entry = f"group:{group}"
            ids = sorted(it.chunk.id for it in corpus)
            before = sut.read_vectors(ids) if sut.read_vectors else None
            acls = {it.chunk.document_id: it.chunk.acl for it in corpus}
            for doc, acl in acls.items():
                if entry in acl:
                    touched = sut.update_acl(doc, [e for e in acl if e != entry])
                    assert touched == sum(1 for it in corpus if it.chunk.document_id == doc)
            revoked = [
                Item(
                    chunk=it.chunk.model_copy(update={"acl": tuple(e for e in it.chunk.acl if e != entry)}),
                    vector=it.vector,
                )
                for it in corpus
            ]
            assert visible(sut, member) == allowed_ids(revoked, member)
            if before is not None and sut.read_vectors is not None:
                assert_same_vectors(sut.read_vectors(ids), before)

        check()


class StoreContract(
    UpsertContract,
    DeleteContract,
    AclUpdateContract,
    FilteredSearchContract,
    FetchContract,
    CountAndIdsContract,
    GenerationContract,
    AclPropertyContract,
):
    """Every behaviour; a backend's test class subclasses this and provides ``make_sut``."""


__all__ = [
    "ALICE",
    "BOB",
    "CAROL",
    "DIM",
    "EVERYTHING",
    "MODEL_ID",
    "TOPICS",
    "AclPropertyContract",
    "AclUpdateContract",
    "CountAndIdsContract",
    "DeleteContract",
    "FetchContract",
    "FilteredSearchContract",
    "GenerationContract",
    "Item",
    "QueryCase",
    "StoreContract",
    "StoreUnderTest",
    "UpsertContract",
    "allowed_ids",
    "assert_same_vectors",
    "doc_id",
    "ids_of",
    "make_item",
    "standard_corpus",
    "topic_query",
    "topic_vector",
    "visible",
]
