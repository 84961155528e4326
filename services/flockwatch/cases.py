"""Cases (pure): what an analyst gathers to defend a takedown or write a report, and the changes to one.

A case is a document: ``case_id``, ``name``, ``description``, who made it and when, its ``items`` (a post, an
account, a coordination cluster, a narrative, an alert or a cascade, each by its key, with who added it, when and
why) and its ``notes``. Every change is a function from the stored case to the fields it changes, so the store
can apply it with a conditional write (two analysts adding at once both land). An item is in a case once.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

ITEM_KINDS = ("post", "account", "cluster", "narrative", "alert", "cascade")
MAX_ITEMS = 2000
MAX_NOTES = 500
MAX_TEXT = 10_000
_KEYED = re.compile(r"^[a-z0-9_.-]+:.{1,1000}$")  # platform:id (posts, accounts, cascades by a member post)


class CaseError(ValueError):
    """A change the case refuses, with the reason."""


def new_case(name: str, description: str, by: str, now: datetime) -> dict[str, Any]:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise CaseError("a case's name is 1 to 200 characters")
    if len(description) > MAX_TEXT:
        raise CaseError(f"a case's description is at most {MAX_TEXT} characters")
    return {
        "case_id": "case-" + uuid.uuid4().hex[:12],
        "name": name,
        "description": description,
        "status": "open",
        "created_by": by,
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "items": [],
        "notes": [],
    }


def check_item(kind: str, ref: str) -> None:
    if kind not in ITEM_KINDS:
        raise CaseError(f"unknown item kind {kind!r}; kinds: {', '.join(ITEM_KINDS)}")
    if not 1 <= len(ref) <= 1000 or any(c in ref for c in "\n\r\t"):
        raise CaseError("an item's ref is one line of 1 to 1000 characters")
    if kind in ("post", "account", "cascade") and not _KEYED.match(ref):
        raise CaseError(f"a {kind} is named by its key, platform:id, not {ref!r}")


def with_item(
    case: dict[str, Any], kind: str, ref: str, by: str, now: datetime, note: str | None = None
) -> dict[str, Any]:
    """The fields that add ``kind``/``ref`` to ``case``; :class:`CaseError` if it is there already or the case is
    full."""
    check_item(kind, ref)
    items = list(case.get("items") or [])
    if any(i.get("kind") == kind and i.get("ref") == ref for i in items):
        raise CaseError(f"{kind} {ref} is in the case already")
    if len(items) >= MAX_ITEMS:
        raise CaseError(f"a case holds at most {MAX_ITEMS} items")
    item = {"kind": kind, "ref": ref, "added_by": by, "added_at": now.isoformat()}
    if note:
        item["note"] = note[:MAX_TEXT]
    return {"items": [*items, item], "updated_at": now.isoformat()}


def with_note(case: dict[str, Any], text: str, by: str, now: datetime, refs: list[str] | None = None) -> dict[str, Any]:
    """The fields that add a note (``refs``: ``kind:ref`` of the items it is about)."""
    if not text.strip() or len(text) > MAX_TEXT:
        raise CaseError(f"a note is 1 to {MAX_TEXT} characters")
    notes = list(case.get("notes") or [])
    if len(notes) >= MAX_NOTES:
        raise CaseError(f"a case holds at most {MAX_NOTES} notes")
    note: dict[str, Any] = {
        "note_id": f"note-{len(notes) + 1}",
        "text": text,
        "author": by,
        "created_at": now.isoformat(),
    }
    if refs:
        note["refs"] = list(refs)[:100]
    return {"notes": [*notes, note], "updated_at": now.isoformat()}


def refs_of(case: dict[str, Any], kind: str) -> list[str]:
    return [str(i["ref"]) for i in case.get("items") or [] if i.get("kind") == kind]
