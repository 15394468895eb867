"""API keys to principals: ``Authorization: Bearer <key>``, keys stored only as SHA-256 hashes.

The users file (``api.users_file``, YAML) maps key hashes to users and users to groups; the
server resolves the groups, a client can never supply them. Accepted layouts::

    users:
      - id: alice
        groups: [engineering, everyone]
        api_key_sha256: 3f2a...            # or a list, for rotation
    groups:                                # optional: members per group
      leadership: [alice, erin]

(``users`` may also be a mapping ``alice: {groups: [...], api_key_sha256: ...}``.) Create a
hash with ``printf %s "$KEY" | sha256sum``. A key is compared by its hash, so the lookup time
does not depend on how much of a key an attacker guessed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from core.acl import Principal
from core.errors import ConfigurationError

_HEX64 = frozenset("0123456789abcdef")


def hash_key(api_key: str) -> str:
    """SHA-256 hex digest of an API key (what the users file stores)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class UserRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    groups: tuple[str, ...] = ()
    api_key_sha256: tuple[str, ...] = ()
    name: str | None = None

    @field_validator("api_key_sha256", mode="before")
    @classmethod
    def _hashes(cls, v: Any) -> tuple[str, ...]:
        values = [v] if isinstance(v, str) else list(v or ())
        out = []
        for h in values:
            h = str(h).strip().lower()
            if len(h) != 64 or not set(h) <= _HEX64:
                raise ValueError("api_key_sha256 must be 64 hex characters (sha256 of the key)")
            out.append(h)
        return tuple(out)

    @field_validator("groups", mode="before")
    @classmethod
    def _groups(cls, v: Any) -> tuple[str, ...]:
        return tuple(str(g) for g in ([v] if isinstance(v, str) else (v or ())))


class UserDirectory:
    """Users and their key hashes; resolves a presented key or a user id to a :class:`Principal`."""

    def __init__(
        self, users: Iterable[UserRecord], extra_groups: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        members: dict[str, set[str]] = {}
        for group, users_in in (extra_groups or {}).items():
            for user_id in users_in:
                members.setdefault(str(user_id), set()).add(str(group))
        self._principals: dict[str, Principal] = {}
        self._by_hash: dict[str, str] = {}
        for u in users:
            if u.id in self._principals:
                raise ConfigurationError(f"users file: user {u.id!r} is listed twice")
            try:
                principal = Principal(user_id=u.id, groups=tuple({*u.groups, *members.get(u.id, ())}))
            except ValidationError as exc:
                raise ConfigurationError(f"users file: user {u.id!r}: {exc.errors()[0]['msg']}") from None
            self._principals[u.id] = principal
            for h in u.api_key_sha256:
                if h in self._by_hash:
                    raise ConfigurationError(
                        f"users file: an API key hash is shared by {self._by_hash[h]!r} and {u.id!r}"
                    )
                self._by_hash[h] = u.id

    @classmethod
    def empty(cls) -> UserDirectory:
        return cls(())

    @classmethod
    def from_file(cls, path: Path) -> UserDirectory:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigurationError(f"api.users_file (GW_API__USERS_FILE) {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"users file {path} is not valid YAML: {exc}") from None
        return cls.from_mapping(raw, where=str(path))

    @classmethod
    def from_mapping(cls, raw: Any, *, where: str = "users file") -> UserDirectory:
        if not isinstance(raw, dict) or "users" not in raw:
            raise ConfigurationError(f"{where}: expected a mapping with a 'users' key")
        entries = raw["users"]
        if isinstance(entries, dict):
            entries = [{"id": k, **(v or {})} for k, v in entries.items()]
        if not isinstance(entries, list):
            raise ConfigurationError(f"{where}: 'users' must be a list or a mapping")
        users = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise ConfigurationError(f"{where}: every user must be a mapping, got {entry!r}")
            data = dict(entry)
            data.setdefault("id", data.get("user_id") or data.get("user"))
            try:
                users.append(UserRecord.model_validate(data))
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                raise ConfigurationError(
                    f"{where}: user {data.get('id')!r}: {field}: {first['msg']}"
                ) from None
        groups = raw.get("groups") or {}
        if not isinstance(groups, dict):
            raise ConfigurationError(f"{where}: 'groups' must map group names to lists of user ids")
        extra = {}
        for name, value in groups.items():
            members = value.get("members", ()) if isinstance(value, dict) else value
            extra[str(name)] = [str(m) for m in (members or ())]
        return cls(users, extra)

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(self._principals)

    def authenticate(self, api_key: str) -> Principal | None:
        """The principal a key belongs to, or ``None`` for an unknown key."""
        digest = hash_key(api_key)
        for known, user_id in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return self._principals[user_id]
        return None

    def principal(self, user_id: str) -> Principal:
        """The principal of a user id (local use: the CLI), or a ConfigurationError naming the users."""
        try:
            return self._principals[user_id]
        except KeyError:
            known = ", ".join(sorted(self._principals)) or "none"
            raise ConfigurationError(f"unknown user {user_id!r} (users in the users file: {known})") from None
