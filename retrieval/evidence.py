"""Sentence-level lexical evidence: the best BM25 score any one sentence of a chunk reaches.

A SciFact claim restates one sentence of its abstract; chunk-level BM25 dilutes that sentence
with the rest of the chunk (its length normalization punishes the long chunk, and query words
spread over unrelated sentences score as much as the same words in one sentence). Scoring each
sentence as its own little document and keeping the chunk's best sentence rewards the one
sentence that says what the query says.

Only the candidate chunks a reranker sees are scored, so the statistics are the candidates'
own: a term's idf is over the candidate chunks (the principal may read every one of them, so
nothing about other documents enters a score) and the length norm is the candidates' mean
sentence length. The tokens are the keyword engines' own analysis (:mod:`index.analysis`:
words, stop words, Porter2), so "sentence BM25" matches what BM25 matches.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from core.models import Chunk
from retrieval.sentences import sentence_texts

Analyzer = Callable[[str], Sequence[str]]


def engine_analyzer() -> Analyzer:
    """The keyword engines' analysis (tantivy's build of :mod:`index.analysis`)."""
    from index.keywords_tantivy import english_analyzer

    analyzer = english_analyzer()
    return analyzer.analyze


class SentenceBM25:
    """Best-sentence BM25 (Lucene's idf and saturation) over a list of candidate chunks."""

    def __init__(
        self,
        analyze: Analyzer | None = None,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        include_title: bool = True,
    ) -> None:
        if k1 < 0 or not 0.0 <= b <= 1.0:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.analyze = analyze or engine_analyzer()
        self.k1 = k1
        self.b = b
        self.include_title = include_title

    def scores(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        """One score per chunk: the BM25 of its best sentence against ``query`` (0 if none match)."""
        if not chunks:
            return []
        terms = set(self.analyze(query))
        if not terms:
            return [0.0] * len(chunks)
        # tokens of every sentence, kept only for the query's terms (plus each sentence's length)
        per_chunk: list[list[tuple[Counter[str], int]]] = []
        df: Counter[str] = Counter()
        total_len = 0
        n_sentences = 0
        for chunk in chunks:
            sentences: list[tuple[Counter[str], int]] = []
            seen: set[str] = set()
            for text in sentence_texts(chunk, include_title=self.include_title):
                tokens = self.analyze(text)
                hits = Counter(t for t in tokens if t in terms)
                sentences.append((hits, len(tokens)))
                seen.update(hits)
                total_len += len(tokens)
                n_sentences += 1
            df.update(seen)
            per_chunk.append(sentences)
        n = len(chunks)
        idf = {t: math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
        avg_len = total_len / n_sentences if n_sentences and total_len else 1.0
        out: list[float] = []
        for sentences in per_chunk:
            best = 0.0
            for hits, length in sentences:
                if not hits:
                    continue
                norm = self.k1 * (1.0 - self.b + self.b * length / avg_len)
                s = sum(idf[t] * tf * (self.k1 + 1.0) / (tf + norm) for t, tf in hits.items())
                best = max(best, s)
            out.append(best)
        return out
