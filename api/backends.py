"""Open the read side of the index from settings: the live generation of both engines.

Embedded: a :class:`index.vectors_edge.LiveVectorReader` and a
:class:`index.keywords_tantivy.LiveKeywordReader` on the generation catalog in ``data_dir``;
both follow promotions without restart. Server: a Qdrant store and an OpenSearch store on the
alias ``backend.index_name`` (the alias names the live generation, so promotions are followed
by the engines themselves). Nothing connects here: clients connect on first use, so the API
starts while an engine is down and reports it in ``/readyz``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from core.settings import BackendMode, Settings
from index.types import KeywordReader, VectorReader


@dataclass
class Backends:
    """The two stores the API reads, and how to close what was opened for them.

    Typed as the read-only protocols: the serving path has no way to write into an index.
    """

    vectors: VectorReader
    keywords: KeywordReader
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                close()
        self.closers.clear()


def open_backends(settings: Settings, *, model_id: str, dimension: int) -> Backends:
    """The live read-side stores the settings describe (see module docstring)."""
    backend = settings.backend
    if backend.mode is BackendMode.EMBEDDED:
        from index.generations import EmbeddedGenerationCatalog
        from index.keywords_tantivy import LiveKeywordReader
        from index.vectors_edge import LiveVectorReader

        catalog = EmbeddedGenerationCatalog(backend.data_dir, backend.index_name)
        vectors = LiveVectorReader(catalog, model_id=model_id)
        keywords = LiveKeywordReader(catalog)
        return Backends(vectors=vectors, keywords=keywords, closers=[vectors.close, keywords.close])

    from index.keywords_opensearch import OpenSearchKeywordStore, client_from_settings
    from index.vectors_qdrant import QdrantVectorStore, connect

    qdrant = connect(backend)
    opensearch = client_from_settings(backend)
    return Backends(
        # read-only stores on the live aliases: writes go to a new generation (the pipeline)
        vectors=QdrantVectorStore(
            qdrant,
            backend.index_name,
            model_id=model_id,
            dimension=dimension,
            index_name=backend.index_name,
            writable=False,
        ),
        keywords=OpenSearchKeywordStore(opensearch, backend.index_name, writable=False),
        closers=[qdrant.close, opensearch.close],
    )
