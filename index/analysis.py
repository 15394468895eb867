"""The BM25 text analysis both keyword engines apply, defined once.

tantivy (embedded) and OpenSearch (server) must turn the same text into the same tokens, or the
two backends would match different chunks for the same words (the congruence tests in
``tests/contract/test_keywords_congruence.py`` hold them to identical ACL outcomes and
overlapping rankings). Each engine builds its analyzer from the constants here:
:func:`index.keywords_tantivy.english_analyzer` and :data:`OPENSEARCH_ANALYSIS`. This module
imports neither engine, so the server path never loads tantivy.

The steps, in order (the reference run's analysis, ``/work/shared/datasets/README.md``):

1. runs of letters and digits (Rust's ``char::is_alphanumeric``; ``robotics.com`` -> two tokens);
2. tokens of :data:`MAX_TOKEN_CHARS` bytes or more dropped (base64, hashes, glued URLs);
3. lowercased;
4. Lucene's English stop words (tantivy ``"english"``, OpenSearch ``_english_``: the same list);
5. single letters and digits dropped (:data:`SINGLE_CHARACTERS`);
6. Snowball English (Porter2) stemming.
"""

from __future__ import annotations

from typing import Any

from core.models import Chunk

MAX_TOKEN_CHARS = 40  # tokens of 40+ bytes are noise for BM25

# Single letters and digits carry no meaning for BM25 ("don't" -> "don", "t"; "5,000" -> "5",
# "000"): dropped, as by the reference run's \w\w+ tokenizer. In tantivy a stop list does this
# ~2x faster than a regex tokenizer (137 vs 59 us per chunk measured).
SINGLE_CHARACTERS = tuple("abcdefghijklmnopqrstuvwxyz0123456789")


def body_text(chunk: Chunk) -> str:
    """What BM25 sees for a chunk: its document title, then its text (one analysed field)."""
    return f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text


# The steps above as an OpenSearch analyzer named ``gw_english``.
OPENSEARCH_ANALYSIS: dict[str, Any] = {
    "tokenizer": {"gw_words": {"type": "pattern", "pattern": "[\\p{IsAlphabetic}\\p{N}]+", "group": 0}},
    "filter": {
        "gw_max_length": {"type": "length", "max": MAX_TOKEN_CHARS - 1},
        "gw_english_stop": {"type": "stop", "stopwords": "_english_"},
        "gw_single_characters": {"type": "stop", "stopwords": list(SINGLE_CHARACTERS)},
        "gw_english_stemmer": {"type": "stemmer", "language": "porter2"},
    },
    "analyzer": {
        "gw_english": {
            "type": "custom",
            "tokenizer": "gw_words",
            "filter": [
                "gw_max_length",
                "lowercase",
                "gw_english_stop",
                "gw_single_characters",
                "gw_english_stemmer",
            ],
        }
    },
}
