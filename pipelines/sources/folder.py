"""Folder sources: every file under a root that matches the include globs and no exclude glob.

Locators are POSIX paths relative to the root, so a document keeps its id when the folder is
mounted elsewhere. Hidden files and folders (``.git``, ``.DS_Store``) and sidecars are never
documents. The fingerprint is ``mtime_ns:size``; a file whose fingerprint matches the manifest
is not read at all (its known content hash stands), so an unchanged re-run costs one ``stat``
per file. A changed fingerprint with identical bytes (a ``touch``) is caught by the hash and
changes nothing in the index.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from core.errors import SourceError
from core.settings import FolderSource
from pipelines.sources.acl_sidecars import AccessRules, SidecarError, is_sidecar
from pipelines.sources.base import FileContent, KnownDocument, Listing, ListingFailure, SourceEntry


def list_folder(source: FolderSource, known: Mapping[str, KnownDocument], *, full: bool = False) -> Listing:
    """Entries for every document of the folder source (reads only files that may have changed)."""
    root = source.path.expanduser().resolve()
    if not root.is_dir():
        raise SourceError(
            f"source '{source.id}': folder {source.path} does not exist or is not a folder "
            "(if it is a mount, check that it is mounted; nothing was changed in the index)"
        )
    rules = AccessRules(root, source.default_acl)
    listing = Listing()
    for path, rel, stat in walk_documents(root, source.include, source.exclude):
        fingerprint = f"{stat.st_mtime_ns}:{stat.st_size}"
        previous = known.get(rel)
        try:
            acl, meta = rules.document(path)
        except SidecarError as exc:
            listing.failures.append(
                ListingFailure(rel, "acl", f"ACL sidecar: {exc}", keep_indexed=False, fingerprint=fingerprint)
            )
            continue
        if previous is not None and previous.fingerprint == fingerprint and not full:
            content_hash = previous.content_hash
        else:
            try:
                content_hash = file_hash(path)
            except OSError as exc:
                listing.failures.append(
                    ListingFailure(rel, "fetch", f"cannot read the file: {exc}", keep_indexed=False)
                )
                continue
        listing.entries.append(
            SourceEntry(
                locator=rel,
                uri=path.as_uri(),
                acl=acl,
                content_hash=content_hash,
                fingerprint=fingerprint,
                content=FileContent(path),
                observed_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                title=meta.title,
                updated_at=meta.updated_at,
            )
        )
    return listing


def walk_documents(
    root: Path, include: tuple[str, ...], exclude: tuple[str, ...]
) -> Iterator[tuple[Path, str, os.stat_result]]:
    """(path, relative POSIX path, stat) of every document file, in a stable order."""
    inc = [glob_regex(g) for g in include]
    exc = [glob_regex(g) for g in exclude]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or is_sidecar(name):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if not any(r.match(rel) for r in inc) or any(r.match(rel) for r in exc):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted while walking
                continue
            if not os.path.isfile(path):
                continue
            yield path, rel, stat


def listing_fingerprint(source: FolderSource) -> str:
    """A hash of (path, mtime, size) of every document and sidecar: changes when the folder does.

    The sensor uses it as its cursor; it reads no file content.
    """
    root = source.path.expanduser().resolve()
    digest = hashlib.sha256()
    if not root.is_dir():
        return "missing"
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            rel = path.relative_to(root).as_posix()
            digest.update(f"{rel}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A relative-path glob as a regex: ``*`` and ``?`` stay inside one path segment, ``**/``
    matches any number of folders (none included), so ``**/*.md`` matches ``a.md`` and ``x/y/a.md``.
    """
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")
