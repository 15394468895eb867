"""Behaviour only keyword stores have, shared by tantivy and OpenSearch.

Like ``suite.py``: a backend's test module subclasses :class:`KeywordQueryContract` and
provides the ``make_sut`` fixture (this module itself defines no tests).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.acl import PUBLIC, Principal
from core.models import Chunk, ChunkSpan
from index.types import KeywordStore, SearchFilter

from .suite import ALICE, CAROL, StoreUnderTest, make_item

# User text that a query-string parser would choke on or read as syntax.
HOSTILE_QUERIES = (
    '"unbalanced quote',
    "title:secret acl:public",
    "(((",
    ")",
    "AND",
    "OR NOT AND",
    "foo AND (bar OR",
    "a:b:c",
    "*",
    "?wild*card~2",
    "^5 boost^",
    "[1 TO *]",
    "{} [] \\ / ! - +",
    "naïve café — 東京 😀 Ωmega",
    "\u0000\u001f control",
    "' OR '1'='1",
    "",
    "   ",
    "x" * 5000,
)

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
CORPUS_DIR = Path(__file__).resolve().parents[2] / "examples" / "corpus"


def demo_paragraph_chunks(
    n: int, acls: Sequence[tuple[str, ...]] = ((PUBLIC,),), seed: int = 7
) -> list[Chunk]:
    """``n`` real paragraphs (8+ words) of the demo corpus's Markdown files, one chunk each.

    Title = the file's first heading; each file's ACL is drawn from ``acls`` with a seeded RNG, so two
    engines (or two runs) get exactly the same corpus.
    """
    rng = random.Random(seed)
    chunks: list[Chunk] = []
    for path in sorted(CORPUS_DIR.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        heading = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
        title = heading.group(1).strip() if heading else path.stem
        acl = rng.choice(acls)  # one ACL per document, as sources assign them
        for i, para in enumerate(p.strip() for p in text.split("\n\n")):
            if len(para.split()) < 8 or para.startswith("#"):
                continue
            start = text.index(para)
            chunks.append(
                Chunk(
                    id=f"{path.stem}-{i}",
                    document_id=path.stem,
                    source_id="demo",
                    text=para,
                    span=ChunkSpan(start=start, end=start + len(para)),
                    title=title,
                    acl=acl,
                    updated_at=NOW,
                    ordinal=i,
                )
            )
    rng.shuffle(chunks)
    return chunks[:n]


def chunk(
    doc: str, text: str, *, title: str = "", acl: tuple[str, ...] = (PUBLIC,), **extra: object
) -> Chunk:
    fields: dict[str, object] = {
        "id": f"{doc}-0",
        "document_id": doc,
        "source_id": "kw",
        "text": text,
        "span": ChunkSpan(start=0, end=len(text)),
        "title": title,
        "acl": acl,
        "updated_at": NOW,
        **extra,
    }
    return Chunk.model_validate(fields)


DEMO_QUERIES = (
    "remote work policy equipment stipend",
    "parental leave weeks",
    "time off carry over vacation days",
    "security incident reporting laptop",
    "expense reimbursement receipts",
    "performance review calibration",
    "onboarding checklist first week",
    "VPN access password rotation",
    "code of conduct harassment reporting",
    "office hours Pittsburgh parking",
    "holiday schedule",
    "referral bonus payout",
)


def derived_queries(corpus: Sequence[Chunk], n: int = 18, seed: int = 11) -> list[str]:
    """Queries of a few words from random paragraphs (seeded): realistic term overlap."""
    rng = random.Random(seed)
    queries = []
    for c in rng.sample(list(corpus), n):
        words = re.findall(r"[A-Za-z]{4,}", c.text)
        queries.append(" ".join(rng.sample(words, min(4, len(words)))))
    return queries


def ids(store: KeywordStore, query: str, principal: Principal = ALICE, limit: int = 10) -> list[str]:
    return [h.chunk.id for h in store.search(query, SearchFilter.for_principal(principal), limit)]


class KeywordQueryContract:
    @pytest.fixture
    def store(self, make_sut: Callable[[], StoreUnderTest]) -> KeywordStore:
        sut = make_sut()
        assert sut.kind == "keyword"
        return sut.store  # type: ignore[return-value]

    def test_hostile_user_text_never_raises_and_respects_the_acl(self, store: KeywordStore) -> None:
        store.upsert(
            [
                chunk("open", "title secret public quote wild card boost"),
                chunk("closed", "title secret public quote wild card boost", acl=("group:board",)),
            ]
        )
        for q in HOSTILE_QUERIES:
            found = ids(store, q, CAROL)
            assert "closed-0" not in found, q

    def test_field_syntax_in_text_is_just_words(self, store: KeywordStore) -> None:
        """``acl:group:board`` must not address the acl field (or any field)."""
        store.upsert([chunk("closed", "board minutes", acl=("group:board",))])
        assert ids(store, "acl:group:board minutes", CAROL) == []
        assert ids(store, "acl:public", CAROL) == []

    def test_empty_and_stopword_only_queries_find_nothing(self, store: KeywordStore) -> None:
        store.upsert([chunk("a", "the and of to be")])
        assert ids(store, "") == []
        assert ids(store, "the and of") == []

    def test_english_stemming_and_case(self, store: KeywordStore) -> None:
        store.upsert([chunk("run", "The runner was RUNNING through several Databases")])
        assert ids(store, "runs") == ["run-0"]
        assert ids(store, "database") == ["run-0"]

    def test_title_is_searched(self, store: KeywordStore) -> None:
        store.upsert([chunk("t", "body without the word", title="Kubernetes onboarding"), chunk("u", "x")])
        assert ids(store, "kubernetes") == ["t-0"]

    def test_more_matching_terms_rank_higher(self, store: KeywordStore) -> None:
        store.upsert(
            [
                chunk("one", "glacier melt measured in spring"),
                chunk("two", "glacier melt and fjord erosion measured together"),
                chunk("none", "unrelated harbor text"),
            ]
        )
        assert ids(store, "glacier fjord erosion") == ["two-0", "one-0"]

    def test_empty_source_list_finds_nothing(self, store: KeywordStore) -> None:
        store.upsert([chunk("a", "glacier")])
        flt = SearchFilter.for_principal(ALICE, source_ids=())
        assert store.search("glacier", flt, 5) == []

    def test_microsecond_range_bounds_are_exact(self, store: KeywordStore) -> None:
        stamp = NOW + timedelta(microseconds=123_457)
        store.upsert([chunk("a", "glacier", updated_at=stamp)])
        just_after = SearchFilter.for_principal(ALICE, updated_after=stamp + timedelta(microseconds=1))
        just_before = SearchFilter.for_principal(ALICE, updated_before=stamp - timedelta(microseconds=1))
        exact = SearchFilter.for_principal(ALICE, updated_after=stamp, updated_before=stamp)
        assert store.search("glacier", just_after, 5) == []
        assert store.search("glacier", just_before, 5) == []
        assert [h.chunk.id for h in store.search("glacier", exact, 5)] == ["a-0"]

    def test_naive_and_offset_datetimes_come_back_as_utc(self, store: KeywordStore) -> None:
        cet = timezone(timedelta(hours=1))
        store.upsert(
            [
                chunk("naive", "glacier", updated_at=datetime(2025, 1, 1, 12, 0)),
                chunk("cet", "glacier", updated_at=datetime(2025, 1, 1, 13, 0, tzinfo=cet)),
            ]
        )
        for hit in store.search("glacier", SearchFilter.for_principal(ALICE), 5):
            assert hit.chunk.updated_at == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
            assert hit.chunk.updated_at.utcoffset() == timedelta(0)

    def test_update_acl_keeps_text_searchable(self, store: KeywordStore) -> None:
        item = make_item("doc", topic=2, acl=("group:board",))
        store.upsert([item.chunk])
        assert store.update_acl(item.chunk.document_id, ["user:alice"]) == 1
        hits = store.search("cobalt", SearchFilter.for_principal(ALICE), 5)
        assert [h.chunk for h in hits] == [item.chunk.model_copy(update={"acl": ("user:alice",)})]
