"""Errors the retrieval layer raises.

::

    GroundworkError
    └── RetrievalError
        └── CitationMismatchError   a quote that is not at its stated offsets (a bug)
"""

from __future__ import annotations

from core.errors import GroundworkError


class RetrievalError(GroundworkError):
    """Base of retrieval-layer errors."""


class CitationMismatchError(RetrievalError):
    """A citation's quote differs from the source text at the citation's span.

    Never a user error: grounding builds quotes by slicing the source at the span, so a mismatch
    means offsets and text drifted apart (a chunker or shaping bug). It is raised, never
    shipped: a citation a reader cannot verify is worse than no citation.
    """

    def __init__(self, document_id: str, start: int, end: int, quote: str, found: str) -> None:
        super().__init__(
            f"citation into document {document_id} at [{start}, {end}) quotes {quote[:60]!r} "
            f"but the source has {found[:60]!r} there"
        )
        self.document_id = document_id
