"""What both Qdrant vector stores (Edge and server) store per point, and the checks they share.

One point per chunk; its id is the chunk id (UUID-shaped, see :mod:`core.ids`). The payload holds
every :class:`~core.models.Chunk` field, so a hit needs no second lookup, plus the id of the
model that made the vector. Filterable fields get payload indexes:

=============  ==========  =====================================================
field          index       why
=============  ==========  =====================================================
acl            keyword     the ACL filter ("acl contains any of the principal's terms")
document_id    keyword     delete and ACL update by document, chunk_ids
source_id      keyword     source narrowing, chunk_ids by source
updated_at     datetime    freshness range filters (RFC 3339, UTC, microseconds)
=============  ==========  =====================================================

An empty ``acl`` list stores no keyword at all, so no ``match any`` can ever select it: an
empty ACL is readable by nobody in the engine, not only in ``enforce_acl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from core.acl import normalize_acl
from core.models import Chunk, ChunkSpan
from index.errors import ModelMismatchError
from index.timestamps import rfc3339

KEYWORD_FIELDS = ("acl", "document_id", "source_id")
DATETIME_FIELDS = ("updated_at",)


def chunk_payload(chunk: Chunk, model_id: str) -> dict[str, Any]:
    return {
        "chunk_id": chunk.id,
        "document_id": chunk.document_id,
        "source_id": chunk.source_id,
        "text": chunk.text,
        "span_start": chunk.span.start,
        "span_end": chunk.span.end,
        "section_path": list(chunk.section_path),
        "page": chunk.page,
        "title": chunk.title,
        "uri": chunk.uri,
        "acl": list(chunk.acl),
        "updated_at": rfc3339(chunk.updated_at),
        "ordinal": chunk.ordinal,
        "model_id": model_id,
    }


def chunk_from_payload(payload: dict[str, Any]) -> Chunk:
    return Chunk(
        id=payload["chunk_id"],
        document_id=payload["document_id"],
        source_id=payload["source_id"],
        text=payload["text"],
        span=ChunkSpan(start=payload["span_start"], end=payload["span_end"]),
        section_path=tuple(payload.get("section_path") or ()),
        page=payload.get("page"),
        title=payload.get("title", ""),
        uri=payload.get("uri", ""),
        acl=tuple(payload.get("acl") or ()),
        updated_at=datetime.fromisoformat(payload["updated_at"]),
        ordinal=payload.get("ordinal", 0),
    )


def acl_update(acl: Sequence[str], updated_at: datetime | None) -> dict[str, Any]:
    """The payload fields an ACL change rewrites (validated, normalized like Chunk.acl)."""
    update: dict[str, Any] = {"acl": list(normalize_acl(acl))}
    if updated_at is not None:
        update["updated_at"] = rfc3339(updated_at)
    return update


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"search limit must be >= 1, got {limit}")


def as_matrix(
    vectors: Sequence[Sequence[float]] | npt.NDArray[Any],
    rows: int,
    dimension: int,
    where: str,
    model_id: str,
) -> npt.NDArray[np.float32]:
    """Vectors as a (rows, dimension) float32 matrix, or ModelMismatchError saying what to do."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if rows == 0 and matrix.size == 0:
        return matrix.reshape(0, dimension)
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise ValueError(f"{where}: got {rows} chunks but vectors of shape {matrix.shape}")
    if matrix.shape[1] != dimension:
        raise ModelMismatchError(
            f"{where} holds {dimension}-d vectors of model '{model_id}', expected {dimension}, "
            f"got {matrix.shape[1]}-d vectors: embed with '{model_id}', or build a new generation "
            "for the new model (full rebuild) and promote it"
        )
    if not np.isfinite(matrix).all():
        raise ValueError(f"{where}: vectors contain NaN or infinity")
    return matrix


def query_vector(
    vector: Sequence[float] | npt.NDArray[Any], dimension: int, where: str, model_id: str
) -> list[float]:
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or v.shape[0] != dimension:
        raise ModelMismatchError(
            f"{where} holds {dimension}-d vectors of model '{model_id}', expected a {dimension}-d "
            f"query, got shape {v.shape}: embed the query with '{model_id}'"
        )
    return [float(x) for x in v]


def check_model(
    where: str, recorded_model: str, recorded_dimension: int, model_id: str, dimension: int
) -> None:
    """Refuse to open a generation with a model other than the one it was built with."""
    if (recorded_model, recorded_dimension) != (model_id, dimension):
        raise ModelMismatchError(
            f"{where} was built with model '{recorded_model}' ({recorded_dimension}-d), expected that, "
            f"got model '{model_id}' ({dimension}-d): set embedding.model back to '{recorded_model}', "
            "or build a new generation with the new model and promote it"
        )
