"""Folder listing: globs, sidecar ACLs (nearest wins), cheap change detection, the sensor's fingerprint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import SourceError
from core.settings import FolderSource
from pipelines.sources.base import KnownDocument
from pipelines.sources.folder import file_hash, glob_regex, list_folder, listing_fingerprint


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write(root / "_access.yaml", "read: [group:everyone]\n")
    write(root / "welcome.md", "# Welcome\n\nHello.\n")
    write(root / "notes.txt", "plain text\n")
    write(root / "image.png", "not a document")
    write(root / ".hidden.md", "hidden")
    write(root / ".git" / "config.md", "git internals")
    write(root / "eng" / "_access.yaml", "read: [group:engineering, user:alice]\n")
    write(root / "eng" / "runbook.md", "# Runbook\n\nSteps.\n")
    write(root / "eng" / "deep" / "design.md", "# Design\n")
    write(root / "eng" / "secret.md", "# Secret\n")
    write(
        root / "eng" / "secret.md.meta.yaml",
        "read: [user:bob]\ntitle: Very Secret\nupdated_at: 2026-01-02T03:04:05Z\n",
    )
    return root


def source(root: Path, **kw: object) -> FolderSource:
    return FolderSource.model_validate({"id": "docs", "path": root, **kw})


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/*.md", "a.md", True),
        ("**/*.md", "x/y/a.md", True),
        ("**/*.md", "a.mdx", False),
        ("*.md", "x/a.md", False),
        ("eng/**", "eng/a/b.md", True),
        ("drafts/**/*.md", "drafts/a.md", True),
        ("drafts/**/*.md", "other/drafts/a.md", False),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
    ],
)
def test_glob_semantics(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


def test_lists_documents_only_with_nearest_acl(tree: Path) -> None:
    listing = list_folder(source(tree), {})
    by_locator = {e.locator: e for e in listing.entries}
    assert sorted(by_locator) == [
        "eng/deep/design.md",
        "eng/runbook.md",
        "eng/secret.md",
        "notes.txt",
        "welcome.md",
    ]
    assert not listing.failures
    assert by_locator["welcome.md"].acl == ("group:everyone",)
    assert by_locator["eng/runbook.md"].acl == ("group:engineering", "user:alice")
    assert by_locator["eng/deep/design.md"].acl == ("group:engineering", "user:alice")  # inherited
    secret = by_locator["eng/secret.md"]
    assert secret.acl == ("user:bob",)  # the document's sidecar replaces the folder's ACL
    assert secret.title == "Very Secret"
    assert secret.updated_at is not None
    assert secret.updated_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert by_locator["welcome.md"].content_hash == file_hash(tree / "welcome.md")
    assert by_locator["welcome.md"].uri == (tree / "welcome.md").resolve().as_uri()


def test_default_acl_without_sidecars_and_excludes(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "a")
    write(tmp_path / "drafts" / "b.md", "b")
    listing = list_folder(source(tmp_path, default_acl=["public"], exclude=["drafts/**"]), {})
    assert [(e.locator, e.acl) for e in listing.entries] == [("a.md", ("public",))]


def test_no_acl_anywhere_is_empty_not_guessed(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "a")
    [entry] = list_folder(source(tmp_path), {}).entries
    assert entry.acl == ()


def test_broken_sidecars_are_failures_for_the_documents_they_govern(tree: Path) -> None:
    write(tree / "eng" / "_access.yaml", "read: [group:engineering, not an entry]\n")
    write(tree / "welcome.md.meta.yaml", "read: [\n")
    listing = list_folder(source(tree), {})
    failed = {f.locator: f for f in listing.failures}
    assert sorted(failed) == ["eng/deep/design.md", "eng/runbook.md", "welcome.md"]
    assert all(f.stage == "acl" and not f.keep_indexed for f in failed.values())
    assert "invalid ACL entry" in failed["eng/runbook.md"].reason
    assert "invalid YAML" in failed["welcome.md"].reason
    # secret.md has its own sidecar ACL and does not depend on the broken folder file
    assert sorted(e.locator for e in listing.entries) == ["eng/secret.md", "notes.txt"]


def test_access_file_without_read_list_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "_access.yaml", "owners: [alice]\n")
    write(tmp_path / "a.md", "a")
    [failure] = list_folder(source(tmp_path), {}).failures
    assert "no 'read' list" in failure.reason


def test_unchanged_fingerprint_skips_reading(tree: Path) -> None:
    first = {e.locator: e for e in list_folder(source(tree), {}).entries}
    known = {loc: KnownDocument(e.fingerprint, "hash-from-manifest") for loc, e in first.items()}
    again = {e.locator: e for e in list_folder(source(tree), known).entries}
    assert {e.content_hash for e in again.values()} == {"hash-from-manifest"}  # not re-read
    full = {e.locator: e for e in list_folder(source(tree), known, full=True).entries}
    assert full["welcome.md"].content_hash == first["welcome.md"].content_hash  # --full re-reads
    os.utime(tree / "welcome.md", ns=(1, 1))  # a touch changes the fingerprint: re-read
    touched = {e.locator: e for e in list_folder(source(tree), known).entries}
    assert touched["welcome.md"].content_hash == first["welcome.md"].content_hash
    assert touched["notes.txt"].content_hash == "hash-from-manifest"


def test_missing_folder_is_a_source_error_not_an_empty_listing(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        list_folder(source(tmp_path / "unmounted"), {})


def test_listing_fingerprint_follows_files_and_sidecars(tree: Path) -> None:
    src = source(tree)
    before = listing_fingerprint(src)
    assert listing_fingerprint(src) == before
    write(tree / "eng" / "_access.yaml", "read: [group:engineering]\n")
    os.utime(tree / "eng" / "_access.yaml", ns=(10**18, 10**18))
    after_acl = listing_fingerprint(src)
    assert after_acl != before
    (tree / "notes.txt").unlink()
    assert listing_fingerprint(src) != after_acl
    assert listing_fingerprint(source(tree / "missing")) == "missing"
