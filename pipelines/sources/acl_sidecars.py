"""ACLs and metadata for folder sources, from sidecar files next to the documents.

Two kinds of sidecar, the nearest one winning:

- ``_access.yaml`` in a folder: ``read: [group:eng, user:alice]`` applies to every document in
  that folder and below, until a deeper ``_access.yaml`` says otherwise.
- ``<file>.meta.yaml`` beside a document (``runbook.md.meta.yaml``): optional ``read`` (replaces
  the folder's ACL for this document), ``title`` and ``updated_at``.

A document with no sidecar anywhere gets the source's ``default_acl``. An empty list means
"nobody" (fail closed) and is kept as such. A sidecar that cannot be read or holds an invalid
entry is a :class:`SidecarError`: the documents it governs are reported as failures and not
indexed, since indexing them under a guessed ACL could expose them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from core.acl import normalize_acl

ACCESS_FILE = "_access.yaml"
META_SUFFIX = ".meta.yaml"


class SidecarError(Exception):
    """A sidecar that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class DocumentSidecar:
    read: tuple[str, ...] | None = None
    title: str | None = None
    updated_at: datetime | None = None


def is_sidecar(name: str) -> bool:
    return name == ACCESS_FILE or name.endswith(META_SUFFIX)


class AccessRules:
    """Resolves a document's ACL and sidecar metadata inside one source root (cached per folder)."""

    def __init__(self, root: Path, default_acl: tuple[str, ...]) -> None:
        self.root = root
        self.default_acl = default_acl
        self._folders: dict[Path, tuple[str, ...] | SidecarError] = {}

    def folder_acl(self, folder: Path) -> tuple[str, ...]:
        """The ACL of the nearest ``_access.yaml`` at or above ``folder`` (within the root)."""
        cached = self._folders.get(folder)
        if cached is None:
            cached = self._resolve_folder(folder)
            self._folders[folder] = cached
        if isinstance(cached, SidecarError):
            raise cached
        return cached

    def _resolve_folder(self, folder: Path) -> tuple[str, ...] | SidecarError:
        access = folder / ACCESS_FILE
        if access.is_file():
            try:
                return _read_list(_load_mapping(access), "read", access, required=True) or ()
            except SidecarError as exc:
                return exc
        if folder == self.root or self.root not in folder.parents:
            return self.default_acl
        try:
            return self.folder_acl(folder.parent)
        except SidecarError as exc:
            return exc

    def document(self, path: Path) -> tuple[tuple[str, ...], DocumentSidecar]:
        """(ACL, sidecar metadata) of the document at ``path``."""
        meta = self.sidecar(path)
        acl = meta.read if meta.read is not None else self.folder_acl(path.parent)
        return acl, meta

    @staticmethod
    def sidecar(path: Path) -> DocumentSidecar:
        side = path.with_name(path.name + META_SUFFIX)
        if not side.is_file():
            return DocumentSidecar()
        data = _load_mapping(side)
        title = data.get("title")
        if title is not None and not isinstance(title, str):
            raise SidecarError(f"{side}: 'title' must be a string")
        return DocumentSidecar(
            read=_read_list(data, "read", side, required=False),
            title=title.strip() or None if isinstance(title, str) else None,
            updated_at=_timestamp(data.get("updated_at"), side),
        )


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SidecarError(f"{path}: invalid YAML: {exc}".replace("\n", " ")) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SidecarError(
            f"{path}: expected a mapping (e.g. 'read: [group:eng]'), got {type(data).__name__}"
        )
    return data


def _read_list(data: dict[str, Any], key: str, path: Path, *, required: bool) -> tuple[str, ...] | None:
    if key not in data:
        if required:
            raise SidecarError(f"{path}: no '{key}' list (write 'read: []' to allow nobody)")
        return None
    value = data[key]
    if value is None:
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SidecarError(f"{path}: '{key}' must be a list of ACL entries")
    try:
        return normalize_acl(value)
    except ValueError as exc:
        raise SidecarError(f"{path}: {exc}") from exc


def _timestamp(value: Any, path: Path) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SidecarError(f"{path}: 'updated_at' {value!r} is not an ISO 8601 timestamp") from None
    else:
        raise SidecarError(f"{path}: 'updated_at' must be a timestamp")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
