"""Groundwork's exception tree.

Every error a layer raises on purpose derives from :class:`GroundworkError`; ``api/`` translates
them to HTTP, the CLI to a message and exit code. Messages say what failed and what to do.

::

    GroundworkError
    ├── ConfigurationError          settings that contradict each other or cannot be used
    ├── ModelLoadError              an embedding/reranking model that cannot be loaded
    ├── ParseError                  a document that yields no text (file + reason)
    ├── SourceError                 a source that cannot be listed or fetched
    └── IndexLayerError                 anything in the index layer (see ``index.errors``)
        ├── StoreUnavailableError   backend down or timing out
        ├── ModelMismatchError      vectors of another model/dimension than the index holds
        └── GenerationNotFoundError an index generation that does not exist
"""

from __future__ import annotations


class GroundworkError(Exception):
    """Base of every error Groundwork raises deliberately."""


class ConfigurationError(GroundworkError):
    """Settings that contradict each other, or name something that cannot be used."""


class ModelLoadError(GroundworkError):
    """A model (embedder, reranker) that cannot be loaded; the message names the setting."""


class ParseError(GroundworkError):
    """A document from which no text could be extracted.

    Carries the locator (file path or URL) and the reason so the pipeline can record it as data.
    """

    def __init__(self, locator: str, reason: str) -> None:
        super().__init__(f"cannot extract text from {locator}: {reason}")
        self.locator = locator
        self.reason = reason


class SourceError(GroundworkError):
    """A source that cannot be listed or fetched (missing folder, unreachable URL, bad export)."""


class IndexLayerError(GroundworkError):
    """Base of index-layer errors."""


class StoreUnavailableError(IndexLayerError):
    """A backend that is down, refuses connections or times out."""

    def __init__(self, backend: str, index: str, detail: str) -> None:
        super().__init__(
            f"{backend} store for index '{index}' is unavailable: {detail}. "
            "Check that the engine is running and reachable (see settings.backend)."
        )
        self.backend = backend
        self.index = index


class ModelMismatchError(IndexLayerError):
    """Vectors whose model or dimension differ from what the index was built with."""


class GenerationNotFoundError(IndexLayerError):
    """An index generation that does not exist (never built, or garbage-collected)."""
