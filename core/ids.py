"""Stable identifiers.

Document ids derive from (source id, locator), so a document keeps its id across runs and edits.
Chunk ids derive from (document id, span, text hash), so they are deterministic across runs and
change whenever the chunk's content or position changes. Ids are UUID-shaped hex strings because
Qdrant point ids must be UUIDs or integers.
"""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f0b1c2e-5a4d-4e1b-9c3f-7a8e2d4b6c10")


def content_hash(text: str | bytes) -> str:
    """SHA-256 hex digest of ``text`` (UTF-8 for ``str``)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def document_id(source_id: str, locator: str) -> str:
    """Stable id of the document at ``locator`` in ``source_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"doc\x00{source_id}\x00{locator}"))


def chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    """Deterministic id of a chunk: changes when its text or span changes."""
    return str(uuid.uuid5(_NAMESPACE, f"chunk\x00{doc_id}\x00{start}\x00{end}\x00{content_hash(text)}"))
