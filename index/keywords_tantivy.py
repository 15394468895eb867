"""BM25 keyword store on tantivy: the embedded default (on disk, in process, incremental).

One store is one index generation's ``keywords/`` folder. Why the choices below:

- **One analysed field.** Title and text are indexed together as ``body`` (title, then text), so
  BM25 sees one document length and one term frequency per term, like the reference BM25 runs
  (title + text concatenated). A separately boosted title field measured worse on SciFact
  (see ``bench/bm25_quality.py``).
- **English analysis:** runs of letters and digits, lowercased, without Lucene's English stop
  words and single characters, Snowball (Porter2) stemmed: defined once in :mod:`index.analysis`
  for both keyword engines.
- **BM25 parameters are tantivy's fixed k1=1.2, b=0.75**: tantivy (and its Python binding)
  exposes no similarity setting, unlike OpenSearch where we set k1=0.9, b=0.4.
- **Queries are built from analysed tokens**, never parsed: user text with quotes, colons,
  ``AND`` or brackets cannot raise a syntax error or address another field.
- **The ACL filter is part of the engine query** (MUST: a term set over ``acl``), so forbidden
  chunks never take a top-k slot; :func:`index.types.enforce_acl` re-checks afterwards.
- **The stored payload is the whole chunk as JSON** (one stored field). ``update_acl`` has no
  in-place update to use in tantivy: it deletes the document's chunks and re-adds them from their
  stored payloads (never from caller data), so text is re-analysed but never re-supplied.
- **Writes are visible when the call returns**: every write commits and reloads the reader.
- **Locking** follows the Qdrant Edge store: a Groundwork ``fcntl`` lock beside the folder
  (``keywords.lock``, :class:`index.generations.FolderLock`), shared by readers and exclusive for
  the one writer, so the pipeline can never write into a generation the API reads. A writable
  store also holds tantivy's own writer lock from the start; either lock being held elsewhere
  raises :class:`index.errors.StoreLockedError` when the store is opened.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import tantivy

from core.acl import normalize_acl
from core.models import Chunk
from index.analysis import MAX_TOKEN_CHARS, SINGLE_CHARACTERS, body_text
from index.errors import GenerationNotFoundError, GenerationStateError, IndexLayerError, StoreLockedError
from index.generations import KEYWORDS_DIR, EmbeddedGenerationCatalog, FolderLock, LiveReader
from index.timestamps import as_utc, to_micros
from index.types import (
    MAX_FETCH,
    GenerationInfo,
    Hit,
    SearchFilter,
    enforce_acl,
    fetch_target,
    fetched,
    require_filter,
)

BACKEND = "tantivy"
ANALYZER_NAME = "gw_english"


def english_analyzer() -> tantivy.TextAnalyzer:
    """The analyzer used for indexing and querying: the steps of :mod:`index.analysis`."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.custom_stopword(list(SINGLE_CHARACTERS)))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("document_id", tokenizer_name="raw")
    builder.add_text_field("source_id", tokenizer_name="raw")
    builder.add_text_field("acl", tokenizer_name="raw")
    # Term frequencies are needed for BM25; positions are not (no phrase queries).
    builder.add_text_field("body", tokenizer_name=ANALYZER_NAME, index_option="freq")
    builder.add_integer_field("updated_us", indexed=True, fast=True)
    builder.add_bytes_field("payload", stored=True)
    return builder.build()


class TantivyKeywordStore:
    """:class:`index.types.KeywordStore` over a tantivy index folder; ``writable=False`` for readers.

    ``writer_heap_bytes`` bounds indexing memory (tantivy splits it across its threads;
    ``writer_threads=0`` lets tantivy choose).
    """

    backend = BACKEND

    def __init__(
        self,
        path: str | Path,
        *,
        writable: bool = True,
        index_name: str = "groundwork",
        writer_heap_bytes: int = 64_000_000,
        writer_threads: int = 1,
    ) -> None:
        if writer_threads < 0:
            raise ValueError("writer_threads must be >= 0 (0 lets tantivy choose)")
        if writer_heap_bytes < 15_000_000 * max(writer_threads, 1):
            raise ValueError("writer_heap_bytes must be at least 15 MB per writer thread")
        self.path = Path(path)
        self.writable = writable
        self.index_name = index_name
        self._where = f"tantivy index '{index_name}' at {self.path}"
        self._schema = _schema()
        self._analyzer = english_analyzer()
        self._write_lock = threading.Lock()
        self._writer: tantivy.IndexWriter | None = None
        self._closed = False
        self._lock = FolderLock(self.path.parent / f"{self.path.name}.lock", exclusive=writable)
        try:
            self._index = self._open()
            if writable:
                self._writer = self._take_writer(writer_heap_bytes, writer_threads)
        except BaseException:
            self._lock.release()
            raise

    # ------------------------------------------------------------------ writes

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Insert or replace chunks by id; visible to search when this returns."""
        with self._write_lock:
            writer = self._writer_for("upsert into")
            if not chunks:
                return
            for chunk in chunks:
                writer.delete_documents_by_term("chunk_id", chunk.id)
                writer.add_document(self._document(chunk))
            self._commit(writer)

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        with self._write_lock:
            writer = self._writer_for("delete from")
            if not document_ids:
                return
            for document_id in document_ids:
                writer.delete_documents_by_term("document_id", document_id)
            self._commit(writer)

    def update_acl(self, document_id: str, acl: Sequence[str], updated_at: datetime | None = None) -> int:
        """Rewrite the ACL of a document's chunks from their stored payloads; returns how many.

        tantivy documents are immutable, so the chunks are deleted and re-added from what the
        index itself stored, in one commit: readers see the old ACL or the new one, never neither.
        """
        changes: dict[str, Any] = {"acl": normalize_acl(acl)}
        if updated_at is not None:
            changes["updated_at"] = updated_at
        with self._write_lock:
            writer = self._writer_for("update ACLs in")
            stored = self._stored_chunks(self._term("document_id", document_id))
            if not stored:
                return 0
            writer.delete_documents_by_term("document_id", document_id)
            for chunk in stored:
                writer.add_document(self._document(Chunk.model_validate({**dict(chunk), **changes})))
            self._commit(writer)
            return len(stored)

    # ------------------------------------------------------------------ reads

    def search(self, query: str, flt: SearchFilter, limit: int) -> list[Hit]:
        """BM25 over title + text, restricted inside the engine by the ACL and narrowing filters."""
        flt = require_filter(flt)
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self._check_open()
        text_query = self._text_query(query)
        if text_query is None or flt.source_ids == ():
            return []
        clauses = [(tantivy.Occur.Must, text_query)]
        # Filters must not change scores: wrap them to score 0 (a TermSetQuery scores 1).
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in self._filters(flt)]
        searcher = self._index.searcher()
        if searcher.num_docs == 0:
            return []
        # tantivy sizes its top-k heap by the limit: never ask for more than there is
        limit = min(limit, searcher.num_docs)
        result = searcher.search(tantivy.Query.boolean_query(clauses), limit, count=False)
        hits = [
            Hit(chunk=self._payload(searcher.doc(address)), score=float(score), rank=rank)
            for rank, (score, address) in enumerate(result.hits, start=1)
        ]
        return enforce_acl(hits, flt)

    def fetch(
        self, flt: SearchFilter, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]:
        """Stored chunks by document and/or id through the same engine filters as search."""
        target = fetch_target(flt, document_id, chunk_ids)
        if target is None:
            return []
        self._check_open()
        clauses = [(tantivy.Occur.Must, f) for f in self._filters(target.flt)]
        if target.document_id is not None:
            clauses.append((tantivy.Occur.Must, self._term("document_id", target.document_id)))
        if target.chunk_ids is not None:
            ids = tantivy.Query.term_set_query(self._schema, "chunk_id", list(target.chunk_ids))
            clauses.append((tantivy.Occur.Must, ids))
        chunks = self._stored_chunks(tantivy.Query.boolean_query(clauses), most=MAX_FETCH)
        return fetched(chunks, target.flt)

    def count(self) -> int:
        self._check_open()
        return int(self._index.searcher().num_docs)

    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]:
        """Ids of the chunks of a document and/or a source (all chunks when neither is given)."""
        self._check_open()
        clauses = [
            (tantivy.Occur.Must, self._term(field, value))
            for field, value in (("document_id", document_id), ("source_id", source_id))
            if value is not None
        ]
        query = tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()
        searcher = self._index.searcher()
        if searcher.num_docs == 0:
            return set()
        result = searcher.search(query, searcher.num_docs, count=False)
        return {str(searcher.doc(address).get_first("chunk_id")) for _, address in result.hits}

    def analyze(self, text: str) -> list[str]:
        """The tokens BM25 sees for ``text`` (for tests, diagnostics and reference scorers)."""
        return list(self._analyzer.analyze(text))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release the writer (after pending merges) and the folder lock; idempotent."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._writer is not None:
                    writer, self._writer = self._writer, None
                    writer.wait_merging_threads()
            finally:
                self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _open(self) -> tantivy.Index:
        if not self.writable and not (self.path.is_dir() and tantivy.Index.exists(str(self.path))):
            raise GenerationNotFoundError(f"{self._where} holds no keyword index (nothing was written)")
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
        except ValueError as exc:
            raise IndexLayerError(
                f"cannot open {self._where}: {exc}. It was built by another Groundwork version "
                "or is not a keyword index; rebuild it in a new generation."
            ) from exc
        index.register_tokenizer(ANALYZER_NAME, self._analyzer)
        return index

    def _take_writer(self, heap_bytes: int, threads: int) -> tantivy.IndexWriter:
        try:
            return self._index.writer(heap_bytes, threads)
        except ValueError as exc:
            if "LockBusy" in str(exc):
                raise StoreLockedError(str(self.path), "another process holds tantivy's writer lock") from exc
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self._where} is closed")

    def _writer_for(self, action: str) -> tantivy.IndexWriter:
        self._check_open()
        if self._writer is None:
            raise GenerationStateError(
                f"cannot {action} {self._where}: it was opened read-only (a reader of a live "
                "generation); writers open a new generation with open_keyword_writer()"
            )
        return self._writer

    def _commit(self, writer: tantivy.IndexWriter) -> None:
        writer.commit()
        self._index.reload()  # the default reload policy lags; callers expect read-your-writes

    def _document(self, chunk: Chunk) -> tantivy.Document:
        chunk = chunk.model_copy(update={"updated_at": as_utc(chunk.updated_at)})
        doc = tantivy.Document()
        doc.add_text("chunk_id", chunk.id)
        doc.add_text("document_id", chunk.document_id)
        doc.add_text("source_id", chunk.source_id)
        for entry in chunk.acl:  # an empty ACL indexes no term: no ACL query can select it
            doc.add_text("acl", entry)
        doc.add_text("body", body_text(chunk))
        doc.add_integer("updated_us", to_micros(chunk.updated_at))
        doc.add_bytes("payload", chunk.model_dump_json().encode())
        return doc

    @staticmethod
    def _payload(doc: tantivy.Document) -> Chunk:
        raw = doc.get_first("payload")
        if not isinstance(raw, bytes):
            raise IndexLayerError("a tantivy keyword document has no stored payload: rebuild the generation")
        return Chunk.model_validate_json(raw)

    def _stored_chunks(self, query: tantivy.Query, most: int | None = None) -> list[Chunk]:
        searcher = self._index.searcher()
        if searcher.num_docs == 0:
            return []
        limit = searcher.num_docs if most is None else min(most, searcher.num_docs)
        result = searcher.search(query, limit, count=False)
        return [self._payload(searcher.doc(address)) for _, address in result.hits]

    def _term(self, field: str, value: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, field, value)

    def _text_query(self, query: str) -> tantivy.Query | None:
        """OR of the query's analysed terms; a repeated term weighs more, as in Lucene."""
        counts = Counter(self._analyzer.analyze(query))
        if not counts:
            return None
        clauses = []
        for token, n in counts.items():
            term = tantivy.Query.term_query(self._schema, "body", token, index_option="freq")
            clauses.append((tantivy.Occur.Should, term if n == 1 else tantivy.Query.boost_query(term, n)))
        return tantivy.Query.boolean_query(clauses)

    def _filters(self, flt: SearchFilter) -> Iterable[tantivy.Query]:
        yield tantivy.Query.term_set_query(self._schema, "acl", list(flt.acl.terms))
        if flt.source_ids is not None:
            yield tantivy.Query.term_set_query(self._schema, "source_id", list(flt.source_ids))
        after, before = flt.updated_after, flt.updated_before
        if after is not None or before is not None:
            # Inclusive bounds, as in the other stores (tantivy wants an open side inclusive too).
            yield tantivy.Query.range_query(
                self._schema,
                "updated_us",
                tantivy.FieldType.Integer,
                lower_bound=None if after is None else to_micros(after),
                upper_bound=None if before is None else to_micros(before),
            )


# --------------------------------------------------------------------------- generations


def open_keyword_writer(catalog: EmbeddedGenerationCatalog, generation_id: str) -> TantivyKeywordStore:
    """The writable keyword store of an unpromoted generation (the live one is refused)."""
    path = catalog.writable_path(generation_id)
    return TantivyKeywordStore(path / KEYWORDS_DIR, index_name=catalog.index_name)


class LiveKeywordReader:
    """A :class:`index.types.KeywordReader` on whatever generation is live, following promotions
    and rollbacks without restart. It has no write methods: it is what the API serves from.

    A :class:`index.generations.LiveReader` over read-only tantivy stores: one ``stat`` of the
    catalog's ``LIVE`` file per call; after a promotion the new generation is opened and the old
    one is closed once the searches running on it finish.
    """

    backend = BACKEND

    def __init__(self, catalog: EmbeddedGenerationCatalog) -> None:
        self.catalog = catalog
        self._reader: LiveReader[TantivyKeywordStore] = LiveReader(
            catalog, self._open, TantivyKeywordStore.close
        )

    def _open(self, info: GenerationInfo, folder: Path) -> TantivyKeywordStore:
        return TantivyKeywordStore(folder / KEYWORDS_DIR, writable=False, index_name=self.catalog.index_name)

    @property
    def generation_id(self) -> str | None:
        return self._reader.generation_id

    def search(self, query: str, flt: SearchFilter, limit: int) -> list[Hit]:
        with self._reader.lease() as store:
            return store.search(query, flt, limit)

    def fetch(
        self, flt: SearchFilter, *, document_id: str | None = None, chunk_ids: Sequence[str] | None = None
    ) -> list[Chunk]:
        with self._reader.lease() as store:
            return store.fetch(flt, document_id=document_id, chunk_ids=chunk_ids)

    def count(self) -> int:
        with self._reader.lease() as store:
            return store.count()

    def chunk_ids(self, *, document_id: str | None = None, source_id: str | None = None) -> set[str]:
        with self._reader.lease() as store:
            return store.chunk_ids(document_id=document_id, source_id=source_id)

    def close(self) -> None:
        self._reader.close()
