"""Errors of the index layer.

The base classes live in :mod:`core.errors` (every layer may need to *catch* them); this module
re-exports them and adds the generation- and lock-specific subclasses that only the index layer
*raises*. Import index errors from here.

::

    IndexLayerError
    ├── StoreUnavailableError        backend down, refusing connections or timing out
    ├── ModelMismatchError           vectors of another model/dimension than the generation holds
    ├── BulkWriteError               chunks a server refused in a bulk write, each with its reason
    ├── GenerationNotFoundError      a generation that was never built or was garbage-collected
    ├── GenerationStateError         an operation the generation's state forbids
    │   ├── LiveGenerationError      writing into (or dropping) the generation readers serve
    │   └── NoPreviousGenerationError rollback with nothing to roll back to
    └── StoreLockedError             an embedded store folder held by another process
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import (
    GenerationNotFoundError,
    IndexLayerError,
    ModelMismatchError,
    StoreUnavailableError,
)

__all__ = [
    "BulkItemFailure",
    "BulkWriteError",
    "GenerationNotFoundError",
    "GenerationStateError",
    "IndexLayerError",
    "LiveGenerationError",
    "ModelMismatchError",
    "NoPreviousGenerationError",
    "StoreLockedError",
    "StoreUnavailableError",
]


class GenerationStateError(IndexLayerError):
    """An operation that the generation's current state (live, previous, sealed) forbids."""


class LiveGenerationError(GenerationStateError):
    """Refused: the generation is live. Writers build a new generation and promote it instead.

    Readers (the API) have the live generation open; writing into it would show them a
    half-written index, and dropping it would pull it from under them.
    """

    def __init__(self, index: str, generation_id: str, action: str) -> None:
        super().__init__(
            f"cannot {action} generation '{generation_id}' of index '{index}': it is live. "
            "Create a new generation (optionally cloned from the live one), write there, then promote it."
        )
        self.index = index
        self.generation_id = generation_id


class NoPreviousGenerationError(GenerationStateError):
    """Rollback asked for, but no previous generation is recorded (or it was garbage-collected)."""


class StoreLockedError(IndexLayerError):
    """An embedded store folder that another process (or another open store) holds.

    Embedded engines are single-process; Groundwork takes an ``fcntl`` lock beside each store
    folder: readers share it, a writer needs it exclusively.
    """

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"store folder {path} is locked: {detail}. Close the other process's store, "
            "or write into a new generation instead of the one being read."
        )
        self.path = path


@dataclass(frozen=True)
class BulkItemFailure:
    """One chunk a bulk write could not store: its id, the engine's status and reason."""

    chunk_id: str
    status: int | str
    reason: str


class BulkWriteError(IndexLayerError):
    """Chunks that a server refused (or kept rejecting after retries), each with its reason.

    Raised after the whole batch was sent: chunks not listed were written.
    """

    def __init__(self, backend: str, index: str, failures: Sequence[BulkItemFailure]) -> None:
        shown = "; ".join(f"{f.chunk_id}: HTTP {f.status} {f.reason}" for f in failures[:10])
        more = f"; and {len(failures) - 10} more" if len(failures) > 10 else ""
        super().__init__(
            f"{backend} index '{index}' refused {len(failures)} chunk(s): {shown}{more}. "
            "Chunks not listed were written; fix the reported chunks (or the mapping) and upsert them again."
        )
        self.backend = backend
        self.index = index
        self.failures = tuple(failures)
