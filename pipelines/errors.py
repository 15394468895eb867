"""Errors the indexing pipeline raises on purpose.

Per-document problems (a file that cannot be parsed, a page that cannot be fetched, a malformed
ticket line) are *not* exceptions here: they are recorded as :class:`pipelines.manifest.Failure`
rows and the run continues. What remains are the conditions that must stop a run::

    GroundworkError                      (core.errors)
    ├── SourceError                      a source that cannot be listed at all (core.errors)
    └── PipelineError
        ├── MassDeleteError              a run would delete more than max_delete_share of a source
        └── StalePlanError               a stage found another run's plan (or none) staged
"""

from __future__ import annotations

from core.errors import GroundworkError, SourceError

__all__ = ["MassDeleteError", "PipelineError", "SourceError", "StalePlanError"]


class PipelineError(GroundworkError):
    """Base of the errors that stop an ingestion run."""


class MassDeleteError(PipelineError):
    """Stopped before deleting: the run would remove too large a share of a source.

    The usual cause is a broken listing (an unmounted folder that looks empty, a renamed
    export), not a real mass deletion, so the run stops before touching either store.
    """

    def __init__(self, source_id: str, deleting: int, indexed: int, limit: float) -> None:
        share = deleting / indexed if indexed else 1.0
        super().__init__(
            f"source '{source_id}': this run would delete {deleting} of its {indexed} indexed "
            f"documents ({share:.0%}), more than pipeline.max_delete_share ({limit:.0%}); nothing "
            "was deleted. If the deletions are intended, re-run with --allow-mass-delete "
            "(Dagster: run config allow_mass_delete: true)"
        )
        self.source_id = source_id
        self.deleting = deleting
        self.indexed = indexed
        self.limit = limit


class StalePlanError(PipelineError):
    """A stage was asked to work on a plan that is not (or no longer) the staged one."""
