"""Account-level machine-likeness: the mean of an account's recent post scores, with what it rests on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from flockwatch.schema import Evidence

# Fewer scored posts than this and an account is "insufficient": one post says little about an account.
MIN_POSTS = 20
# Only the most recent posts count: accounts change hands and tools.
RECENT_POSTS = 200


@dataclass(frozen=True)
class PostScore:
    account: str
    machine_score: float | None  # None when the post was unscored
    created_at: datetime | None = None


@dataclass
class AccountScore:
    account: str
    # mean post machine score over the scored recent posts (the calibrated probability, or a decisive rule's
    # score where one fired: it scores some posts the model cannot, e.g. another language)
    machine_score: float | None
    machine_share: float | None  # share of those posts at or above the post threshold
    label: Literal["machine", "human", "insufficient"]
    n_posts: int  # recent posts considered (scored or not)
    n_scored: int  # of which scored: what the score rests on
    evidence: list[Evidence] = field(default_factory=list)


def aggregate_accounts(
    posts: Iterable[PostScore],
    threshold: float,
    min_posts: int = MIN_POSTS,
    recent: int = RECENT_POSTS,
) -> dict[str, AccountScore]:
    """One :class:`AccountScore` per account; ``threshold`` is a calibrated post-level threshold (0..1).

    Posts with a ``created_at`` are ordered by it (newest kept); otherwise input order counts as time.
    """
    by_account: dict[str, list[tuple[int, PostScore]]] = {}
    for order, post in enumerate(posts):
        by_account.setdefault(post.account, []).append((order, post))
    out: dict[str, AccountScore] = {}
    for account, items in by_account.items():
        items.sort(key=lambda it: (it[1].created_at.timestamp() if it[1].created_at else 0.0, it[0]))
        window = [p for _, p in items[-recent:]]
        scores = [p.machine_score for p in window if p.machine_score is not None]
        if not scores:
            out[account] = AccountScore(account, None, None, "insufficient", len(window), 0)
            continue
        mean = sum(scores) / len(scores)
        share = sum(s >= threshold for s in scores) / len(scores)
        if len(scores) < min_posts:
            label: Literal["machine", "human", "insufficient"] = "insufficient"
        else:
            label = "machine" if mean >= threshold else "human"
        detail = (
            f"mean machine score {mean:.3f} over {len(scores)} scored of {len(window)} recent posts; "
            f"{share:.0%} at or above the post threshold {threshold:.3f}"
            + ("" if len(scores) >= min_posts else f"; fewer than {min_posts} scored posts: no label")
        )
        evidence = [Evidence(signal="account.mean_machine_score", score=mean, on=f"account:{account}", detail=detail)]
        out[account] = AccountScore(account, mean, share, label, len(window), len(scores), evidence)
    return out
