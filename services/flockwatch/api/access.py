"""Who may do what through the API: roles, their rights, tokens and pseudonyms (pure).

- **Roles.** ``admin`` may do everything (tokens, the audit log); ``analyst`` reads, acts on alerts and exports;
  ``researcher`` reads and exports, with every author id pseudonymised (:func:`pseudonym`), and acts on nothing.
- **Tokens** are 32 random bytes (``secrets.token_urlsafe``) after a ``fw_`` prefix, shown once; only their
  SHA-256 is kept, so a leaked token file grants nothing. Tokens are compared by their hashes with
  ``hmac.compare_digest``.
- **Pseudonyms** are ``anon:`` + the first 16 hex digits of HMAC-SHA256(secret, ``platform:id``): stable across
  queries and exports (a researcher can still follow an account), not reversible without the server's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from enum import StrEnum

TOKEN_PREFIX = "fw_"
PSEUDONYM_PREFIX = "anon:"
_TOKEN = re.compile(r"^fw_[A-Za-z0-9_-]{40,60}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")


class Role(StrEnum):
    admin = "admin"
    analyst = "analyst"
    researcher = "researcher"


class Right(StrEnum):
    read = "read"  # query posts, spread, narratives, accounts, clusters, alerts, media evidence
    act = "act"  # acknowledge or resolve alerts, edit watchlists and cases
    export = "export"  # download exports and evidence bundles
    administer = "administer"  # tokens and the audit log


RIGHTS: dict[Role, frozenset[Right]] = {
    Role.admin: frozenset(Right),
    Role.analyst: frozenset({Right.read, Right.act, Right.export}),
    Role.researcher: frozenset({Right.read, Right.export}),
}


def allowed(role: Role, right: Right) -> bool:
    return right in RIGHTS[role]


def pseudonymised(role: Role) -> bool:
    """Whether ``role`` sees author ids only as pseudonyms."""
    return role is Role.researcher


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    """Whether ``token`` could be one of ours (checked before hashing what a client sent)."""
    return bool(_TOKEN.match(token))


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def check_name(name: str) -> str:
    """A token's name (who holds it, for the audit log); ``ValueError`` when empty, too long or odd."""
    if not _NAME.match(name):
        raise ValueError(f"a token name is 1 to 64 letters, digits, spaces or ._@- and starts with one: {name!r}")
    return name


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValueError(f"unknown role {value!r}; roles: {', '.join(r.value for r in Role)}") from None


def pseudonym(secret: bytes, account_key: str) -> str:
    """The stable pseudonym of an account key (``platform:id``)."""
    return PSEUDONYM_PREFIX + hmac.new(secret, account_key.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
