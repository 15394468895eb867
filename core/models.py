"""The domain model every layer shares: documents, chunks, citations.

Values are frozen pydantic models: they cross process boundaries (Dagster I/O, API responses,
stored payloads) and must not change under a reader.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.acl import normalize_acl
from core.ids import chunk_id as make_chunk_id
from core.ids import content_hash, document_id


class SourceKind(StrEnum):
    FOLDER = "folder"
    WEB = "web"
    TICKETS = "tickets"


class ChunkSpan(BaseModel):
    """Half-open character span ``[start, end)`` into a document's normalized text."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ChunkSpan:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before start {self.start}")
        return self

    def slice(self, text: str) -> str:
        return text[self.start : self.end]


def _acl(v: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return normalize_acl(v)


class Document(BaseModel):
    """One source document after parsing: its normalized text is what chunk spans point into."""

    model_config = ConfigDict(frozen=True)

    id: str
    source_id: str
    locator: str = Field(description="path relative to the source root, URL, or ticket id")
    title: str
    uri: str
    updated_at: datetime
    content_hash: str
    acl: tuple[str, ...] = Field(description="read ACL; empty means nobody may read it")
    text: str = ""

    _norm_acl = field_validator("acl", mode="before")(_acl)

    @classmethod
    def create(
        cls,
        *,
        source_id: str,
        locator: str,
        title: str,
        uri: str,
        updated_at: datetime,
        acl: tuple[str, ...] | list[str],
        text: str,
        raw_hash: str | None = None,
    ) -> Document:
        """Build a document with its stable id and content hash (of ``text`` unless given)."""
        return cls(
            id=document_id(source_id, locator),
            source_id=source_id,
            locator=locator,
            title=title,
            uri=uri,
            updated_at=updated_at,
            content_hash=raw_hash or content_hash(text),
            acl=tuple(acl),
            text=text,
        )


class Chunk(BaseModel):
    """A retrievable piece of a document, with its exact span in the document's normalized text."""

    model_config = ConfigDict(frozen=True)

    id: str
    document_id: str
    source_id: str
    text: str
    span: ChunkSpan
    section_path: tuple[str, ...] = ()
    page: int | None = None
    title: str = ""
    uri: str = ""
    acl: tuple[str, ...]
    updated_at: datetime
    ordinal: int = Field(default=0, ge=0, description="position of the chunk in its document")

    _norm_acl = field_validator("acl", mode="before")(_acl)

    @classmethod
    def from_document(
        cls,
        doc: Document,
        start: int,
        end: int,
        *,
        ordinal: int,
        section_path: tuple[str, ...] = (),
        page: int | None = None,
    ) -> Chunk:
        text = doc.text[start:end]
        return cls(
            id=make_chunk_id(doc.id, start, end, text),
            document_id=doc.id,
            source_id=doc.source_id,
            text=text,
            span=ChunkSpan(start=start, end=end),
            section_path=section_path,
            page=page,
            title=doc.title,
            uri=doc.uri,
            acl=doc.acl,
            updated_at=doc.updated_at,
            ordinal=ordinal,
        )

    @property
    def text_hash(self) -> str:
        return content_hash(self.text)


class Citation(BaseModel):
    """A verifiable pointer from an answer sentence to an exact span of a source document."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    chunk_id: str
    title: str
    uri: str
    quote: str
    span: ChunkSpan = Field(description="span of the quote in the document's normalized text")
    updated_at: datetime
    stale: bool = False
