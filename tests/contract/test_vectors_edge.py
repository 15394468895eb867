"""Qdrant Edge (the embedded default) against the shared store contract."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.acl import Principal
from index.errors import ModelMismatchError
from index.generations import EmbeddedGenerationCatalog
from index.types import SearchFilter
from index.vectors_edge import EdgeVectorStore

from .suite import ALICE, DIM, MODEL_ID, StoreContract, StoreUnderTest, make_item, standard_corpus


@pytest.fixture(scope="module")
def empty_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty store made once: creating Edge payload indexes costs ~1 s, copying a folder less."""
    path = tmp_path_factory.mktemp("edge-template") / "vectors"
    EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM, index_name="contract").close()
    return path


class TestEdgeVectorStore(StoreContract):
    @pytest.fixture
    def make_sut(
        self, tmp_path_factory: pytest.TempPathFactory, empty_shard: Path
    ) -> Iterator[Callable[[], StoreUnderTest]]:
        opened: list[StoreUnderTest] = []

        def make() -> StoreUnderTest:
            root = tmp_path_factory.mktemp("edge")
            shutil.copytree(empty_shard, root / "vectors")
            store = EdgeVectorStore(root / "vectors", model_id=MODEL_ID, dimension=DIM, index_name="contract")
            catalog = EmbeddedGenerationCatalog(root / "data", "contract")
            sut = StoreUnderTest.dense("qdrant-edge", store, catalog, read_vectors=store.vectors)
            opened.append(sut)
            return sut

        yield make
        for sut in opened:
            sut.close()


# --------------------------------------------------------------------------- beyond the contract


def test_vectors_of_another_dimension_are_refused(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=DIM, index_name="kb")
    item = make_item("doc")
    try:
        with pytest.raises(ModelMismatchError, match=r"index 'kb'.*expected 16.*got 8-d.*new generation"):
            store.upsert([item.chunk], [[0.1] * 8])
        with pytest.raises(ModelMismatchError, match="16-d query"):
            store.search([0.1] * 8, SearchFilter.for_principal(ALICE), 5)
        assert store.count() == 0
    finally:
        store.close()


def test_reopening_with_another_model_is_refused(tmp_path: Path) -> None:
    EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=DIM).close()
    with pytest.raises(ModelMismatchError, match=r"built with model 'contract/synthetic-16d'.*other/model"):
        EdgeVectorStore(tmp_path / "vectors", model_id="other/model", dimension=DIM)
    with pytest.raises(ModelMismatchError, match="32-d"):
        EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=32)
    EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=DIM).close()  # lock was released


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    items = standard_corpus()
    store = EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=DIM)
    store.upsert([it.chunk for it in items], [it.vector for it in items])
    store.optimize()
    store.close()
    reader = EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=DIM, writable=False)
    try:
        assert reader.count() == len(items)
        assert reader.chunk_ids() == {it.chunk.id for it in items}
    finally:
        reader.close()


def test_invalid_acl_entries_are_refused(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=DIM)
    try:
        with pytest.raises(ValueError, match="invalid ACL entry"):
            store.update_acl("any-doc", ["everyone"])
    finally:
        store.close()


def test_the_engine_itself_never_matches_an_empty_acl(tmp_path: Path) -> None:
    """Below enforce_acl: the raw Edge query with our filter must not select an empty ACL."""
    import qdrant_edge as qe

    from index.vectors_edge import engine_filter

    store = EdgeVectorStore(tmp_path / "vectors", model_id=MODEL_ID, dimension=DIM)
    try:
        items = [make_item("locked", acl=[]), make_item("open", acl=["public"])]
        store.upsert([it.chunk for it in items], [it.vector for it in items])
        everyone = SearchFilter.for_principal(Principal(user_id="root", groups=("eng", "hr")))
        raw = store._shard.query(
            qe.QueryRequest(limit=10, query=qe.Query.Nearest([1.0] * DIM), filter=engine_filter(everyone))
        )
        assert {str(p.id) for p in raw} == {items[1].chunk.id}
    finally:
        store.close()
