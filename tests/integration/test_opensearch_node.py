"""A real OpenSearch node enforces read ACLs the way the keyword store relies on.

The ACL is a `terms` filter on a `keyword` field inside the query itself (never a post-filter),
and a document whose ACL list is empty is readable by nobody: no principal's terms can match it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opensearchpy import OpenSearch
from opensearchpy.helpers import bulk

pytestmark = pytest.mark.integration

DOCS: dict[str, tuple[list[str], str]] = {
    "eng-runbook": (["group:eng"], "The runbook for deployments: how to roll back a bad release."),
    "alice-notes": (["user:alice"], "Alice's notes on deployments of the search service."),
    "public-faq": (["public"], "Public FAQ: who approves a deployment?"),
    "hr-payroll": (["group:hr"], "Payroll deployment schedule for the new tax year."),
    "hr-eng-shared": (["group:hr", "group:eng"], "Shared deployment calendar."),
    "eng-lunch": (["group:eng"], "Friday lunch menu."),
    "no-acl": ([], "Orphaned page about deployments that lost its ACL."),
}


@pytest.fixture(scope="module")
def client(opensearch_url: str) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[opensearch_url], timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def acl_index(client: OpenSearch) -> Iterator[str]:
    """A uniquely named index holding DOCS; deleted afterwards whatever the tests did."""
    name = f"gw-test-acl-{uuid.uuid4().hex}"
    client.indices.create(
        index=name,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "properties": {
                    "acl": {"type": "keyword"},
                    "text": {"type": "text", "analyzer": "english"},
                }
            },
        },
    )
    try:
        actions = [
            {"_index": name, "_id": doc_id, "_source": {"acl": acl, "text": text}}
            for doc_id, (acl, text) in DOCS.items()
        ]
        written, errors = bulk(client, actions, raise_on_error=False)
        assert errors == []
        assert written == len(DOCS)
        client.indices.refresh(index=name)
        yield name
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)


def search(client: OpenSearch, index: str, principals: list[str], text: str | None) -> set[str]:
    """Ids of the hits for `text` (all documents when None) that `principals` may read."""
    must: list[dict[str, object]] = [{"match": {"text": text}}] if text is not None else [{"match_all": {}}]
    body = {
        "size": 100,
        "query": {"bool": {"must": must, "filter": [{"terms": {"acl": principals}}]}},
    }
    response = client.search(index=index, body=body)
    return {hit["_id"] for hit in response["hits"]["hits"]}


@pytest.mark.parametrize(
    ("principals", "expected"),
    [
        pytest.param(
            ["user:alice", "group:eng", "public"],
            {"eng-runbook", "alice-notes", "public-faq", "hr-eng-shared"},
            id="alice-in-eng",
        ),
        pytest.param(
            ["user:bob", "group:hr", "public"],
            {"public-faq", "hr-payroll", "hr-eng-shared"},
            id="bob-in-hr",
        ),
        pytest.param(["user:mallory", "public"], {"public-faq"}, id="outsider"),
        pytest.param(["user:nobody-at-all"], set(), id="no-grants"),
    ],
)
def test_terms_filter_returns_only_permitted_matches(
    client: OpenSearch, acl_index: str, principals: list[str], expected: set[str]
) -> None:
    # "deployment" reaches "deployments" only through the english analyzer's stemming;
    # "eng-lunch" is readable by eng but does not match the text.
    assert search(client, acl_index, principals, "deployment") == expected


def test_document_with_empty_acl_is_never_returned(client: OpenSearch, acl_index: str) -> None:
    every_principal = sorted({p for acl, _ in DOCS.values() for p in acl} | {"user:alice"})
    for text in ("deployment", "orphaned ACL", None):
        hits = search(client, acl_index, every_principal, text)
        assert "no-acl" not in hits
    assert search(client, acl_index, every_principal, None) == set(DOCS) - {"no-acl"}
    # It was written and is searchable without the filter: the filter is what hides it.
    unfiltered = client.search(index=acl_index, body={"query": {"match": {"text": "orphaned"}}})
    assert [hit["_id"] for hit in unfiltered["hits"]["hits"]] == ["no-acl"]


def test_acl_filter_applies_before_top_k(client: OpenSearch, acl_index: str) -> None:
    # With size=1 a post-filter could return nothing (the best hit is forbidden); a query-time
    # filter returns the best permitted hit.
    body = {
        "size": 1,
        "query": {
            "bool": {
                "must": [{"match": {"text": "payroll deployment schedule"}}],
                "filter": [{"terms": {"acl": ["user:alice", "group:eng"]}}],
            }
        },
    }
    hits = client.search(index=acl_index, body=body)["hits"]["hits"]
    assert len(hits) == 1
    assert hits[0]["_id"] in {"eng-runbook", "alice-notes", "hr-eng-shared"}
