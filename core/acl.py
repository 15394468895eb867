"""Principals and read ACLs.

A document's ``acl_read`` lists the principals allowed to read it: ``user:<id>``, ``group:<name>``
or the literal ``public``. An empty ACL means *nobody* (fail closed). A principal's *access terms*
are the ACL entries that grant it access; every engine filters on "acl_read contains any of these".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, field_validator

PUBLIC = "public"
_ENTRY = re.compile(r"^(public|user:[A-Za-z0-9_.@\-]+|group:[A-Za-z0-9_.@\-]+)$")
_NAME = re.compile(r"^[A-Za-z0-9_.@\-]+$")


def validate_acl_entry(entry: str) -> str:
    """Return ``entry`` if it is a well-formed ACL entry, else raise ``ValueError``."""
    if not _ENTRY.match(entry):
        raise ValueError(
            f"invalid ACL entry {entry!r}: use 'public', 'user:<id>' or 'group:<name>' "
            "(letters, digits, '_', '.', '@', '-')"
        )
    return entry


def normalize_acl(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate, deduplicate and sort ACL entries so equal ACLs compare equal."""
    return tuple(sorted({validate_acl_entry(e.strip()) for e in entries}))


class Principal(BaseModel):
    """Who is asking: a user id and the groups the *server* resolved for it."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    groups: tuple[str, ...] = ()

    @field_validator("user_id")
    @classmethod
    def _check_user(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"invalid user id {v!r}")
        return v

    @field_validator("groups")
    @classmethod
    def _check_groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for g in v:
            if not _NAME.match(g):
                raise ValueError(f"invalid group name {g!r}")
        return tuple(sorted(set(v)))

    def access_terms(self) -> tuple[str, ...]:
        """ACL entries that grant this principal read access (never empty: includes ``public``)."""
        return (PUBLIC, f"user:{self.user_id}", *(f"group:{g}" for g in self.groups))

    def may_read(self, acl: Iterable[str]) -> bool:
        """True iff the ACL grants access. An empty ACL grants nobody."""
        terms = set(self.access_terms())
        return any(entry in terms for entry in acl)
