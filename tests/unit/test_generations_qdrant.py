"""The composite catalog (server mode): several engines, one generation id, ordered promotion.

The Qdrant and OpenSearch catalogs themselves pass tests/contract/suite.py::GenerationContract;
here the composite drives Qdrant (``:memory:``) and an embedded catalog, which accepts a given
generation id the same way the OpenSearch catalog does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from index.errors import GenerationNotFoundError, StoreUnavailableError
from index.generations import CompositeGenerationCatalog, EmbeddedGenerationCatalog
from index.generations_qdrant import QdrantGenerationCatalog
from index.types import GenerationInfo

from ..contract.suite import DIM, MODEL_ID


class _FailingPromotions(EmbeddedGenerationCatalog):
    """An engine whose promotion fails (the second engine of a pair going down mid-promotion)."""

    fail = False

    def promote(self, generation_id: str) -> GenerationInfo:
        if self.fail:
            raise StoreUnavailableError("opensearch", self.index_name, "connection refused")
        return super().promote(generation_id)


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[QdrantGenerationCatalog, _FailingPromotions]]:
    client = QdrantClient(":memory:")
    yield QdrantGenerationCatalog(client, "kb"), _FailingPromotions(tmp_path, "kb")
    client.close()


def test_create_uses_one_id_everywhere(engines: tuple[QdrantGenerationCatalog, _FailingPromotions]) -> None:
    qdrant, other = engines
    composite = CompositeGenerationCatalog([qdrant, other])
    info = composite.create(MODEL_ID, DIM)
    assert [g.id for g in qdrant.generations()] == [info.id]
    assert [g.id for g in other.generations()] == [info.id]
    assert [g.id for g in composite.generations()] == [info.id]


def test_promote_and_rollback_move_every_engine(
    engines: tuple[QdrantGenerationCatalog, _FailingPromotions],
) -> None:
    qdrant, other = engines
    composite = CompositeGenerationCatalog([qdrant, other])
    a, b = composite.create(MODEL_ID, DIM), composite.create(MODEL_ID, DIM)
    composite.promote(a.id)
    composite.promote(b.id)
    assert {_live(qdrant), _live(other), _live(composite)} == {b.id}
    assert composite.rollback().id == a.id
    assert {_live(qdrant), _live(other), _live(composite)} == {a.id}


def test_a_failed_promotion_swaps_the_first_engine_back(
    engines: tuple[QdrantGenerationCatalog, _FailingPromotions],
) -> None:
    qdrant, other = engines
    composite = CompositeGenerationCatalog([qdrant, other])
    a, b = composite.create(MODEL_ID, DIM), composite.create(MODEL_ID, DIM)
    composite.promote(a.id)
    other.fail = True
    with pytest.raises(StoreUnavailableError):
        composite.promote(b.id)
    assert _live(qdrant) == a.id
    assert _live(other) == a.id


def test_engines_that_disagree_have_nothing_live(
    engines: tuple[QdrantGenerationCatalog, _FailingPromotions],
) -> None:
    qdrant, other = engines
    composite = CompositeGenerationCatalog([qdrant, other])
    a, b = composite.create(MODEL_ID, DIM), composite.create(MODEL_ID, DIM)
    composite.promote(a.id)
    qdrant.promote(b.id)  # someone promoted one engine by hand
    assert composite.live() is None


def test_promoting_a_generation_missing_in_one_engine_changes_nothing(
    engines: tuple[QdrantGenerationCatalog, _FailingPromotions],
) -> None:
    qdrant, other = engines
    composite = CompositeGenerationCatalog([qdrant, other])
    only_qdrant = qdrant.create(MODEL_ID, DIM)
    with pytest.raises(GenerationNotFoundError, match="through the composite"):
        composite.promote(only_qdrant.id)
    assert qdrant.live() is None


def test_gc_and_drop_reach_every_engine(engines: tuple[QdrantGenerationCatalog, _FailingPromotions]) -> None:
    qdrant, other = engines
    composite = CompositeGenerationCatalog([qdrant, other])
    gens = [composite.create(MODEL_ID, DIM) for _ in range(4)]
    composite.promote(gens[2].id)
    composite.promote(gens[3].id)
    assert set(composite.gc(keep=2)) == {gens[0].id, gens[1].id}
    assert (
        {g.id for g in qdrant.generations()}
        == {g.id for g in other.generations()}
        == {gens[2].id, gens[3].id}
    )


def _live(
    catalog: QdrantGenerationCatalog | EmbeddedGenerationCatalog | CompositeGenerationCatalog,
) -> str | None:
    info = catalog.live()
    return info.id if info else None
