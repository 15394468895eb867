"""tantivy (the embedded keyword store) against the shared store contract, plus what only it has:
user text that would break a query parser, folder locks across processes, generation readers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tantivy

from core.acl import PUBLIC, Principal
from index.errors import GenerationNotFoundError, GenerationStateError, LiveGenerationError, StoreLockedError
from index.generations import EmbeddedGenerationCatalog
from index.keywords_tantivy import LiveKeywordReader, TantivyKeywordStore, open_keyword_writer
from index.types import KeywordReader, KeywordStore, SearchFilter

from .suite import ALICE, DIM, MODEL_ID, StoreContract, StoreUnderTest, make_item, standard_corpus
from .test_keywords_common import HOSTILE_QUERIES, KeywordQueryContract


@pytest.fixture
def make_sut(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], StoreUnderTest]]:
    opened: list[StoreUnderTest] = []

    def make() -> StoreUnderTest:
        root = tmp_path_factory.mktemp("tantivy")
        store = TantivyKeywordStore(root / "keywords", index_name="contract")
        catalog = EmbeddedGenerationCatalog(root / "data", "contract")
        sut = StoreUnderTest.keyword("tantivy", store, catalog)
        opened.append(sut)
        return sut

    yield make
    for sut in opened:
        sut.close()


class TestTantivyKeywordStore(StoreContract):
    """The shared contract (``make_sut`` comes from the module fixture)."""


class TestTantivyQueries(KeywordQueryContract):
    """Keyword-only behaviour shared with OpenSearch (see keyword_cases)."""


def test_is_a_keyword_store(tmp_path: Path) -> None:
    with TantivyKeywordStore(tmp_path / "keywords") as store:
        assert isinstance(store, KeywordStore)
        assert store.backend == "tantivy"


def test_analyzer_is_english(tmp_path: Path) -> None:
    with TantivyKeywordStore(tmp_path / "keywords") as store:
        assert store.analyze("The Running FOXES aren't here: C++") == ["run", "fox", "aren", "here"]


def test_reopen_keeps_data_and_reader_cannot_write(tmp_path: Path) -> None:
    items = standard_corpus()
    with TantivyKeywordStore(tmp_path / "keywords") as store:
        store.upsert([it.chunk for it in items])
    with TantivyKeywordStore(tmp_path / "keywords", writable=False) as reader:
        assert reader.count() == len(items)
        with pytest.raises(GenerationStateError, match="read-only"):
            reader.upsert([items[0].chunk])
        with pytest.raises(GenerationStateError):
            reader.update_acl(items[0].chunk.document_id, [PUBLIC])


def test_two_readers_share_a_folder_but_a_writer_is_refused(tmp_path: Path) -> None:
    with TantivyKeywordStore(tmp_path / "keywords") as store:
        store.upsert([make_item("a").chunk])
    with (
        TantivyKeywordStore(tmp_path / "keywords", writable=False),
        TantivyKeywordStore(tmp_path / "keywords", writable=False),
        pytest.raises(StoreLockedError),
    ):
        TantivyKeywordStore(tmp_path / "keywords")


def test_reader_of_a_missing_index_is_generation_not_found(tmp_path: Path) -> None:
    with pytest.raises(GenerationNotFoundError):
        TantivyKeywordStore(tmp_path / "nothing", writable=False)


class _Holder:
    """A child process that holds a lock on ``path`` until told to exit."""

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held", "the child process did not take the lock"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def test_writer_in_another_process_is_a_typed_error(tmp_path: Path) -> None:
    """Another process holding the folder lock exclusively (as a writing store does)."""
    path = tmp_path / "keywords"
    TantivyKeywordStore(path).close()
    holder = _Holder(
        f"""
        import fcntl, sys
        lock = open({str(tmp_path / "keywords.lock")!r}, "a+b")
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        print("held", flush=True)
        sys.stdin.readline()
        """
    )
    try:
        with pytest.raises(StoreLockedError, match="locked"):
            TantivyKeywordStore(path)
        with pytest.raises(StoreLockedError):
            TantivyKeywordStore(path, writable=False)  # readers wait for the writer to finish
    finally:
        holder.release()
    TantivyKeywordStore(path).close()  # free again once the holder exits


def test_tantivy_writer_lock_held_outside_groundwork_is_a_typed_error(tmp_path: Path) -> None:
    """A bare tantivy writer (no Groundwork folder lock) is caught by tantivy's own lock."""
    path = tmp_path / "keywords"
    TantivyKeywordStore(path).close()
    holder = _Holder(
        f"""
        import sys, tantivy
        writer = tantivy.Index.open({str(path)!r}).writer(15_000_000, 1)
        print("held", flush=True)
        sys.stdin.readline()
        """
    )
    try:
        with pytest.raises(StoreLockedError, match="writer lock"):
            TantivyKeywordStore(path)
    finally:
        holder.release()


def test_live_reader_follows_promotion_and_rollback(tmp_path: Path) -> None:
    catalog = EmbeddedGenerationCatalog(tmp_path, "kw")
    first, second = catalog.create(MODEL_ID, DIM), catalog.create(MODEL_ID, DIM)
    with open_keyword_writer(catalog, first.id) as writer:
        writer.upsert([make_item("old", topic=0).chunk])
    with open_keyword_writer(catalog, second.id) as writer:
        writer.upsert([make_item("new", topic=0).chunk, make_item("new", 1, topic=0).chunk])
    catalog.promote(first.id)
    with pytest.raises(LiveGenerationError):
        open_keyword_writer(catalog, first.id)

    reader = LiveKeywordReader(catalog)
    flt = SearchFilter.for_principal(ALICE)
    try:
        assert reader.count() == 1
        catalog.promote(second.id)
        assert reader.count() == 2
        assert reader.generation_id == second.id
        assert len(reader.search("aurora", flt, 10)) == 2
        catalog.rollback()
        assert reader.count() == 1
        # the API's reader has no write methods at all (mypy refuses a write through it)
        assert isinstance(reader, KeywordReader)
        assert not isinstance(reader, KeywordStore)
        assert not hasattr(reader, "upsert")
    finally:
        reader.close()


def test_hostile_queries_never_reach_a_parser(tmp_path: Path) -> None:
    """tantivy's own parser rejects several of these; the store never parses user text."""
    with TantivyKeywordStore(tmp_path / "keywords") as store:
        store.upsert([make_item("a").chunk])
        flt = SearchFilter.for_principal(Principal(user_id="u"))
        rejected = 0
        for q in HOSTILE_QUERIES:
            try:
                tantivy.parse_query(q)
            except ValueError:
                rejected += 1
            store.search(q, flt, 5)
        assert rejected > 0  # the cases are hostile to a real parser
