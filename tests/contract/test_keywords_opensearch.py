"""OpenSearch (the scale-out keyword store) against the shared store contract, on a real node.

Needs ``GW_TEST_OPENSEARCH_URL`` (skipped with the reason otherwise). Every store and catalog
gets index names unique to the test, and teardown deletes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from opensearchpy import OpenSearch

from core.acl import PUBLIC
from index.errors import GenerationNotFoundError, GenerationStateError
from index.generations_opensearch import OpenSearchGenerationCatalog
from index.keywords_opensearch import (
    MAPPING_VERSION,
    OpenSearchKeywordStore,
    opensearch_client,
)
from index.types import GENERATION_META_KEY, KeywordReader, KeywordStore, SearchFilter

from .suite import (
    ALICE,
    CAROL,
    DIM,
    MODEL_ID,
    StoreContract,
    StoreUnderTest,
    doc_id,
    make_item,
    standard_corpus,
)
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
    meta = client.indices.get_mapping(index=index)[index]["mappings"]["_meta"][GENERATION_META_KEY]
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

    live = catalog.reader()  # the alias: follows promotions without reopening
    assert isinstance(live, KeywordReader)
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
    # the serving path cannot write into the live generation, even by casting the protocol away
    with pytest.raises(GenerationStateError, match="read-only"):
        cast(OpenSearchKeywordStore, live).upsert([make_item("sneaky").chunk])
    with pytest.raises(GenerationStateError):
        cast(OpenSearchKeywordStore, live).update_acl(doc_id("old"), [PUBLIC])
    with pytest.raises(GenerationStateError):
        cast(OpenSearchKeywordStore, live).delete_documents([doc_id("old")])
    assert live.count() == 1


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


_ALIAS_READER = """
import json, os, sys, time
from core.acl import Principal
from index.generations_opensearch import OpenSearchGenerationCatalog
from index.keywords_opensearch import opensearch_client
from index.types import SearchFilter

url, index, stop = sys.argv[1], sys.argv[2], sys.argv[3]
reader = OpenSearchGenerationCatalog(opensearch_client(url, timeout_s=30), index).reader()
flt = SearchFilter.for_principal(Principal(user_id="reader"))
queries, seen, bad = 0, set(), []
print("ready", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        stopping = os.path.exists(stop)
        n = len(reader.search("aurora", flt, 100))
    except Exception as exc:  # an alias pointing nowhere for a moment would land here
        bad.append(repr(exc)[:200])
        continue
    queries += 1
    seen.add(n)
    if n not in (3, 5):
        bad.append(n)
    if stopping:
        break
print(json.dumps({"queries": queries, "seen": sorted(seen), "bad": bad[:5]}))
"""


def test_a_reader_in_another_process_never_sees_an_empty_or_partial_generation(
    client: OpenSearch, names: Callable[[str], str], opensearch_url: str, tmp_path: Path
) -> None:
    """Promote and roll back while another process searches the alias: it sees 3 or 5, never less."""
    catalog = OpenSearchGenerationCatalog(client, names("cat"))
    sizes = []
    for n in (3, 5):
        info = catalog.create(MODEL_ID, DIM)
        catalog.store(info.id).upsert([make_item(f"gen{n}", i, topic=0).chunk for i in range(n)])
        sizes.append(info.id)
    catalog.promote(sizes[0])
    stop = tmp_path / "stop"
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", _ALIAS_READER, opensearch_url, catalog.index_name, str(stop)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(4):
            catalog.promote(sizes[1])
            time.sleep(0.3)
            catalog.rollback()
            time.sleep(0.3)
        stop.touch()
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["bad"] == [], report
    assert report["queries"] > 5
    assert report["seen"] == [3, 5], report  # it really followed the promotions
