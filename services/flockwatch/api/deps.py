"""What the API's routers share: the context (store, tokens, audit log), the bearer-token and role checks, the
post search parameters, and how posts and files are handed out.

No ``from __future__ import annotations`` here or in the ``routes_*`` modules: FastAPI reads the routes' and
dependencies' annotations (``Annotated[..., Depends/Query/Path]``) at runtime, and as strings they resolve only
against module globals, so an alias local to a function (as the routes once had) or an import moved under
``TYPE_CHECKING`` would silently stop being a dependency or a parameter.
"""

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flockwatch.api.access import Right, Role, allowed, pseudonym, pseudonymised
from flockwatch.api.audit_log import AuditLog
from flockwatch.api.export_views import MEDIA_TYPES as EXPORT_TYPES
from flockwatch.api.post_query import PostSearch
from flockwatch.api.token_file import Principal, TokenFile
from flockwatch.config import Settings
from flockwatch.exports import pseudonyms
from flockwatch.store import Store, open_store

API = "/api/v1"
MAX_KEY_CHARS = 1000


class ApiContext:
    """What the routes share: the store (opened on first use), tokens and the audit log."""

    def __init__(self, settings: Settings, store: Store | None, tokens: TokenFile, audit: AuditLog) -> None:
        self.settings = settings
        self._store = store
        self.tokens = tokens
        self.audit = audit

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def names(self, who: Principal) -> Callable[[str], str]:
        """How ``who`` may see an account key: as it is, or as its pseudonym."""
        return self.pseudonyms(who) or (lambda key: key)

    def pseudonyms(self, who: Principal) -> Callable[[str], str] | None:
        """The pseudonym of an account key for ``who``, or ``None`` when ``who`` sees accounts as they are (the
        form the plot, export and brief builders take)."""
        if not pseudonymised(who.role):
            return None
        secret = self.tokens.pseudonym_secret()
        return lambda key: pseudonym(secret, key)


def get_context(request: Request) -> ApiContext:
    """The app's context, set by :func:`flockwatch.api.app.create_app`."""
    context: ApiContext = request.app.state.context
    return context


Ctx = Annotated[ApiContext, Depends(get_context)]

_bearer = HTTPBearer(auto_error=False, description="A token from `flockwatch token create`.")


def principal(ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The token's holder; 401 without a valid token."""
    who = ctx.tokens.principal(credentials.credentials) if credentials is not None else None
    if who is None:
        raise HTTPException(401, "a valid token is needed: Authorization: Bearer TOKEN", {"WWW-Authenticate": "Bearer"})
    return who


def needs(right: Right) -> Callable[[Principal], Principal]:
    """A dependency: the token's holder, 403 when their role lacks ``right``."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not allowed(who.role, right):
            raise HTTPException(403, f"the {who.role.value} role may not {right.value}")
        return who

    return check


Caller = Annotated[Principal, Depends(principal)]  # any valid token
Reader = Annotated[Principal, Depends(needs(Right.read))]
Actor = Annotated[Principal, Depends(needs(Right.act))]
Admin = Annotated[Principal, Depends(needs(Right.administer))]
Exporter = Annotated[Principal, Depends(needs(Right.export))]
Key = Annotated[str, Path(min_length=3, max_length=MAX_KEY_CHARS, pattern=r"^[a-z0-9_.-]+:.+$")]  # platform:id


def searched(
    q: Annotated[str, Query(max_length=500, description='Words (simple query syntax: "phrase", -not, a|b).')] = "",
    platform: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults per request)
    language: Annotated[list[str], Query()] = [],  # noqa: B006
    author: Annotated[list[str], Query(description="Account keys, platform:author_id.")] = [],  # noqa: B006
    hashtag: Annotated[list[str], Query()] = [],  # noqa: B006
    narrative: Annotated[list[str], Query()] = [],  # noqa: B006
    cluster: Annotated[list[str], Query(description="Coordination cluster ids.")] = [],  # noqa: B006
    since: datetime | None = None,
    until: datetime | None = None,
    min_machine_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    min_media_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> PostSearch:
    """The post search of the query string (the search and the posts export take the same parameters)."""
    return PostSearch(
        q, platform, language, author, hashtag, narrative, cluster, since, until, min_machine_score, min_media_risk
    ).check()


Searched = Annotated[PostSearch, Depends(searched)]


def searchable(who: Principal, search: PostSearch) -> PostSearch:
    """``search`` as ``who`` may run it. A researcher sees pseudonyms, so may not filter by a raw account (403),
    and their words match post text only: a match on display names would tie a pseudonym to a person's name."""
    if not pseudonymised(who.role):
        return search
    if search.authors:
        raise HTTPException(403, "the researcher role sees pseudonyms and cannot filter by a raw account")
    return dataclasses.replace(search, match_display_names=False)


def account_urls(
    docs: Sequence[Mapping[str, Any]], names: Callable[[str], str], role: Role
) -> pseudonyms.AccountUrls | None:
    """The researcher role's URL rule (:class:`flockwatch.exports.pseudonyms.AccountUrls`), knowing the accounts of
    the stored posts ``docs``; None for a role that sees URLs as they are."""
    return pseudonyms.AccountUrls.from_items(names, {"posts": docs}) if pseudonymised(role) else None


def post_view(
    doc: dict[str, Any], names: Callable[[str], str], role: Role, urls: pseudonyms.AccountUrls | None = None
) -> dict[str, Any]:
    """A stored post as the caller may see it (store bookkeeping out). For researchers: authors and mentions
    pseudonymised, and every URL that names an account (``url``, ``urls``, media, source...) rewritten by ``urls``
    (by default knowing the post's own author): the pseudonym of a known account, else ``[withheld]``."""
    view = {k: v for k, v in doc.items() if not k.startswith("_")}
    if not pseudonymised(role):
        return view
    view = copy.deepcopy(view)
    platform = str(view.get("platform") or "")
    author = view.get("author")
    if isinstance(author, dict):
        view["author"] = {"id": names(f"{platform}:{author.get('id')}")}
    view["mentions"] = [names(f"{platform}:{m}") for m in view.get("mentions") or []]
    view.pop("account_key", None)
    rule = urls or pseudonyms.AccountUrls.from_items(names, {"posts": [doc]})
    shown: dict[str, Any] = rule.deep(view)
    return shown


def post_views(docs: Sequence[dict[str, Any]], names: Callable[[str], str], role: Role) -> list[dict[str, Any]]:
    """Stored posts as the caller may see them (:func:`post_view`), a researcher's URLs rewritten knowing every
    author of ``docs`` (a post linking to another's on the same page names that one's pseudonym)."""
    urls = account_urls(docs, names, role)
    return [post_view(d, names, role, urls) for d in docs]


def attachment(
    ctx: ApiContext,
    who: Principal,
    action: str,
    target: str,
    write: Callable[[], bytes],
    fmt: str,
    name: str,
    detail: Mapping[str, Any] | None = None,
) -> Response:
    """The file ``write`` makes, as a download named ``name``, audited (with ``detail``: what was asked for, e.g. a
    search's filters); 404 when there is nothing of that key."""
    try:
        body = write()
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    ctx.audit.append(who.name, who.role.value, action, target, {**(detail or {}), "format": fmt, "bytes": len(body)})
    suffix = {"stix": "json", "bundle": "zip"}.get(fmt, fmt)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{suffix}"'}
    return Response(body, media_type=EXPORT_TYPES[fmt], headers=headers)
