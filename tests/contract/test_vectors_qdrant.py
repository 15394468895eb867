"""qdrant-client (the server path) against the shared store contract, on ``:memory:``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import cast

import pytest
from qdrant_client import QdrantClient

from core.acl import PUBLIC
from core.settings import BackendSettings
from index.errors import GenerationStateError, ModelMismatchError, StoreUnavailableError
from index.generations_qdrant import QdrantGenerationCatalog
from index.types import SearchFilter, VectorReader
from index.vectors_qdrant import QdrantVectorStore, connect, create_generation_collection

from .suite import ALICE, DIM, MODEL_ID, StoreContract, StoreUnderTest, doc_id, make_item


class TestQdrantVectorStore(StoreContract):
    @pytest.fixture
    def make_sut(self) -> Iterator[Callable[[], StoreUnderTest]]:
        clients: list[QdrantClient] = []

        def make() -> StoreUnderTest:
            client = QdrantClient(":memory:")
            clients.append(client)
            create_generation_collection(client, "contract__store", DIM)
            store = QdrantVectorStore(client, "contract__store", model_id=MODEL_ID, dimension=DIM)
            catalog = QdrantGenerationCatalog(client, "catalog")
            return StoreUnderTest.dense("qdrant", store, catalog, read_vectors=store.vectors)

        yield make
        for client in clients:
            client.close()


# --------------------------------------------------------------------------- beyond the contract


def _store(client: QdrantClient, collection: str = "kb__g1", dim: int = DIM) -> QdrantVectorStore:
    return QdrantVectorStore(client, collection, model_id=MODEL_ID, dimension=dim, index_name="kb")


@pytest.fixture
def memory_client() -> Iterator[QdrantClient]:
    client = QdrantClient(":memory:")
    yield client
    client.close()


def test_vectors_of_another_dimension_are_refused(memory_client: QdrantClient) -> None:
    create_generation_collection(memory_client, "kb__g1", DIM)
    store = _store(memory_client)
    item = make_item("doc")
    with pytest.raises(ModelMismatchError, match=r"expected 16.*got 8-d.*new generation"):
        store.upsert([item.chunk], [[0.1] * 8])
    with pytest.raises(ModelMismatchError, match="16-d query"):
        store.search([0.1] * 8, SearchFilter.for_principal(ALICE), 5)


def test_a_store_for_another_model_is_refused(memory_client: QdrantClient) -> None:
    catalog = QdrantGenerationCatalog(memory_client, "kb")
    info = catalog.create(MODEL_ID, DIM)
    store = catalog.store(info.id, model_id="another/model")
    with pytest.raises(ModelMismatchError, match=r"built with model 'contract/synthetic-16d'.*another/model"):
        store.count()
    wrong_dim = QdrantVectorStore(
        memory_client, catalog.collection_name(info.id), model_id=MODEL_ID, dimension=32
    )
    with pytest.raises(ModelMismatchError, match="32-d"):
        wrong_dim.count()


def test_the_live_alias_follows_promotion_and_rollback(memory_client: QdrantClient) -> None:
    catalog = QdrantGenerationCatalog(memory_client, "kb")
    sizes = {}
    for n in (3, 5):
        info = catalog.create(MODEL_ID, DIM)
        items = [make_item(f"d{n}-{i}", seed=i) for i in range(n)]
        catalog.store(info.id, model_id=MODEL_ID).upsert(
            [it.chunk for it in items], [it.vector for it in items]
        )
        catalog.record(info.id, chunk_count=n)
        sizes[info.id] = n
    first, second = list(sizes)
    catalog.promote(first)
    live = catalog.reader(model_id=MODEL_ID)  # the alias: one store for the API's lifetime
    assert isinstance(live, VectorReader)
    assert live.count() == 3
    catalog.promote(second)
    assert live.count() == 5
    catalog.rollback()
    assert live.count() == 3
    assert {g.id: g.chunk_count for g in catalog.generations()} == sizes
    aliases = {a.alias_name: a.collection_name for a in memory_client.get_aliases().aliases}
    assert aliases == {"kb": f"kb__{first}"}
    # the serving path cannot write into the live generation, even by casting the protocol away
    item = make_item("sneaky")
    with pytest.raises(GenerationStateError, match="read-only"):
        cast(QdrantVectorStore, live).upsert([item.chunk], [item.vector])
    with pytest.raises(GenerationStateError):
        cast(QdrantVectorStore, live).update_acl(doc_id("d3-0"), [PUBLIC])
    with pytest.raises(GenerationStateError):
        cast(QdrantVectorStore, live).delete_documents([doc_id("d3-0")])
    assert live.count() == 3


def test_catalogs_of_two_indexes_do_not_see_each_other(memory_client: QdrantClient) -> None:
    a = QdrantGenerationCatalog(memory_client, "kb")
    b = QdrantGenerationCatalog(memory_client, "kb__x")  # shares the prefix "kb__"
    a.create(MODEL_ID, DIM)
    b.create(MODEL_ID, DIM)
    assert len(a.generations()) == 1
    assert len(b.generations()) == 1


@pytest.mark.parametrize("timeout_s", [0.5, 1.0])
def test_a_dead_server_is_unavailable_quickly(timeout_s: float) -> None:
    client = connect(BackendSettings(qdrant_url="http://127.0.0.1:1", timeout_s=timeout_s))
    catalog = QdrantGenerationCatalog(client, "kb")
    for call in (lambda: _store(client).count(), catalog.live, lambda: catalog.create(MODEL_ID, DIM)):
        start = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            call()
        assert time.monotonic() - start < timeout_s + 1


def test_a_server_that_never_answers_times_out(blackhole_url: str) -> None:
    """Accepts the connection, never replies: the client timeout bounds every call."""
    timeout_s = 1.0
    client = connect(BackendSettings(qdrant_url=blackhole_url, timeout_s=timeout_s))
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        _store(client).search([0.1] * DIM, SearchFilter.for_principal(ALICE), 5)
    assert time.monotonic() - start < timeout_s + 1


@pytest.fixture
def blackhole_url() -> Iterator[str]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)  # read nothing, answer nothing
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_the_engine_itself_never_matches_an_empty_acl(memory_client: QdrantClient) -> None:
    """Below enforce_acl: the raw Qdrant query with our filter must not select an empty ACL."""
    from core.acl import Principal
    from index.vectors_qdrant import engine_filter

    create_generation_collection(memory_client, "kb__g1", DIM)
    items = [make_item("locked", acl=[]), make_item("open", acl=["public"])]
    _store(memory_client).upsert([it.chunk for it in items], [it.vector for it in items])
    everyone = SearchFilter.for_principal(Principal(user_id="root", groups=("eng", "hr")))
    raw = memory_client.query_points(
        "kb__g1", query=[1.0] * DIM, query_filter=engine_filter(everyone), limit=10
    )
    assert {str(p.id) for p in raw.points} == {items[1].chunk.id}


def test_a_missing_collection_is_generation_not_found(memory_client: QdrantClient) -> None:
    from index.errors import GenerationNotFoundError

    with pytest.raises(GenerationNotFoundError, match="does not exist"):
        _store(memory_client, "kb__never").count()
    with pytest.raises(GenerationNotFoundError, match="no live generation"):
        QdrantGenerationCatalog(memory_client, "kb").reader(model_id=MODEL_ID)
