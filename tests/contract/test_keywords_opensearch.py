"""OpenSearch (the scale-out keyword store) against the shared store contract, on a real node.

Needs ``GW_TEST_OPENSEARCH_URL`` (skipped with the reason otherwise). Every store and catalog
gets index names unique to the test, and teardown deletes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from opensearchpy import OpenSearch

from core.acl import PUBLIC
from index.errors import GenerationNotFoundError
from index.generations_opensearch import OpenSearchGenerationCatalog
from index.keywords_opensearch import (
    MAPPING_VERSION,
    META_KEY,
    OpenSearchKeywordStore,
    opensearch_client,
)
from index.types import KeywordStore, SearchFilter

from .suite import ALICE, CAROL, DIM, MODEL_ID, StoreContract, StoreUnderTest, make_item, standard_corpus
from .test_keywords_common import KeywordQueryContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(opensearch_url: str) -> Iterator[OpenSearch]:
    client = opensearch_client(opensearch_url, timeout_s=30)
    yield client
    client.close()


@pytest.fixture
def names(client: OpenSearch) -> Iterator[Callable[[str], str]]:
    """Unique index names for this test; everything under them is deleted at teardown."""
    made: list[str] = []

    def name(kind: str) -> str:
        made.append(f"gw-test-{kind}-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield name
    for prefix in made:
        params = {"ignore_unavailable": "true", "expand_wildcards": "all"}
        client.indices.delete(index=f"{prefix}*", params=params)


@pytest.fixture
def make_sut(client: OpenSearch, names: Callable[[str], str]) -> Callable[[], StoreUnderTest]:
    def make() -> StoreUnderTest:
        store = OpenSearchKeywordStore.create(client, names("kw"))
        catalog = OpenSearchGenerationCatalog(client, names("cat"))
        return StoreUnderTest.keyword("opensearch", store, catalog)

    return make


class TestOpenSearchKeywordStore(StoreContract):
    """The shared contract (``make_sut`` comes from the module fixture)."""


class TestOpenSearchQueries(KeywordQueryContract):
    """Keyword-only behaviour shared with tantivy."""


def test_is_a_keyword_store(client: OpenSearch, names: Callable[[str], str]) -> None:
    store = OpenSearchKeywordStore.create(client, names("kw"))
    assert isinstance(store, KeywordStore)
    assert store.backend == "opensearch"


def test_bm25_parameters_and_mapping_are_set(client: OpenSearch, names: Callable[[str], str]) -> None:
    name = names("kw")
    OpenSearchKeywordStore.create(client, name)
    settings = client.indices.get_settings(index=name)[name]["settings"]["index"]
    assert settings["similarity"]["default"] == {"type": "BM25", "k1": "0.9", "b": "0.4"}
    mapping = client.indices.get_mapping(index=name)[name]["mappings"]
    assert mapping["properties"]["acl"]["type"] == "keyword"
    assert mapping["dynamic"] == "strict"
    assert mapping["_meta"]["mapping_version"] == MAPPING_VERSION


def test_generation_metadata_lives_in_the_mapping_meta(
    client: OpenSearch, names: Callable[[str], str]
) -> None:
    catalog = OpenSearchGenerationCatalog(client, names("cat"))
    info = catalog.create(MODEL_ID, DIM, notes={"purpose": "test"})
    index = catalog.index_for(info.id)
    meta = client.indices.get_mapping(index=index)[index]["mappings"]["_meta"][META_KEY]
    assert meta["index"] == catalog.index_name
    assert meta["info"]["id"] == info.id
    assert meta["info"]["notes"] == {"purpose": "test"}
    recorded = catalog.record(info.id, chunk_count=42, notes={"ndcg": "0.68"})
    assert recorded.chunk_count == 42
    assert catalog.generations()[0].notes == {"purpose": "test", "ndcg": "0.68"}


def test_alias_reader_follows_promotion_and_rollback(client: OpenSearch, names: Callable[[str], str]) -> None:
    catalog = OpenSearchGenerationCatalog(client, names("cat"))
    first = catalog.create(MODEL_ID, DIM)
    second = catalog.create(MODEL_ID, DIM, generation_id="given-id")
    assert second.id == "given-id"
    catalog.store(first.id).upsert([make_item("old", topic=0).chunk])
    catalog.store(second.id).upsert([make_item("new", 0, topic=0).chunk, make_item("new", 1, topic=0).chunk])

    live = catalog.store()  # the alias: follows promotions without reopening
    with pytest.raises(GenerationNotFoundError):
        live.count()
    catalog.promote(first.id)
    assert live.count() == 1
    catalog.promote(second.id)
    assert live.count() == 2
    assert len(live.search("aurora", SearchFilter.for_principal(ALICE), 10)) == 2
    assert catalog.rollback().id == first.id
    assert live.count() == 1
    aliases = client.indices.get_alias(name=catalog.alias)
    assert list(aliases) == [catalog.index_for(first.id)]


def test_catalog_ignores_foreign_indices_sharing_the_prefix(
    client: OpenSearch, names: Callable[[str], str]
) -> None:
    catalog = OpenSearchGenerationCatalog(client, names("cat"))
    client.indices.create(index=f"{catalog.index_name}__stray")
    OpenSearchKeywordStore.create(client, f"{catalog.index_name}__nometa")
    made = catalog.create(MODEL_ID, DIM)
    assert [g.id for g in catalog.generations()] == [made.id]
    with pytest.raises(GenerationNotFoundError):
        catalog.promote("stray")


def test_store_on_a_missing_generation_is_refused(client: OpenSearch, names: Callable[[str], str]) -> None:
    catalog = OpenSearchGenerationCatalog(client, names("cat"))
    with pytest.raises(GenerationNotFoundError):
        catalog.store("nope")
    with pytest.raises(GenerationNotFoundError):
        OpenSearchKeywordStore(client, names("missing")).search("x", SearchFilter.for_principal(ALICE), 5)


def test_acl_update_changes_only_the_acl_source(client: OpenSearch, names: Callable[[str], str]) -> None:
    """update_by_query rewrites _source in place; the text stays searchable with no re-send."""
    store = OpenSearchKeywordStore.create(client, names("kw"))
    items = standard_corpus()
    store.upsert([it.chunk for it in items])
    eng = [it.chunk for it in items if "group:eng" in it.chunk.acl]
    assert store.update_acl(eng[0].document_id, ["group:hr", PUBLIC]) == len(eng)
    hits = store.search("dolomite aurora basalt", SearchFilter.for_principal(CAROL), 50)
    assert {h.chunk.id for h in hits} >= {c.id for c in eng}
