"""Coordinated-account networks over a true sliding time window, with evidence per edge.

Definitions follow coordination-network-toolkit 1.5.2 (``compute_networks.py``; the method is described in
Graham, Bruns, Angus et al., "Like a virus: the coordinated spread of coronavirus disinformation", 2020,
and Weber & Neumann, "Amplifying influence through coordinated behaviour in social networks", 2021):

For a *kind* that defines which posts take part and which object they share, two posts ``a`` (user
``u``) and ``b`` (user ``v``) *co-act* when they share an object and ``|t_a - t_b| <= window`` (inclusive).
The directed edge ``u -> v`` has weight

    w(u, v) = |{ a posted by u : some post b by v co-acts with a }|

i.e. the number of ``u``'s qualifying posts, so ``w(u, v)`` and ``w(v, u)`` may differ; edges with
``w < min_weight`` are dropped, and so are self-loops unless asked for (every post co-acts with itself,
so a loop's weight is the user's number of qualifying posts).

Kinds (toolkit names first):

* ``co_tweet``: non-repost posts with the same :func:`~flockwatch.graph.text.normalize_message` text;
* ``co_retweet``: reposts of the same ``repost_id``;
* ``co_reply``: non-repost replies to the same ``reply_id``;
* ``co_link``: non-repost posts sharing a URL (raw string, or canonical with ``canonical_urls``);
* ``co_similar_tweet``: non-repost posts whose token sets have Jaccard similarity ``>= similarity``
  (sets with fewer than ``min_tokens`` tokens are similar to nothing);
* ``co_post``: any two posts (synchronised posting; the toolkit's null-model-like network);
* ``co_hashtag`` (ours): non-repost posts with the same ordered hashtag sequence of at least
  ``min_hashtags`` hashtags (Pacheco et al., "Uncovering coordinated networks on social media", ICWSM 2021);
* ``co_media`` (ours): non-repost posts sharing a media hash (the CSV's optional ``media`` column).

Evidence per edge (``_evidence``): ``n_coactions`` (distinct source/target post pairs), ``n_objects``
(distinct shared objects; for co_similar_tweet, distinct similar pairs), ``first_time`` / ``last_time``
(of the earlier post of each co-action), ``min_dt_s`` / ``median_dt_s`` (|Δt|), ``source_first_share``
(share of co-actions where the source posted strictly first: leader vs follower) and ``examples`` (the
first co-actions as ``source_post>target_post dt=+Ns object``).  For fractional timestamps the inclusive
window is tested as ``t_later <= t_earlier + window``.

Algorithm: rows ``(object, time)`` are sorted once; for each row a binary search finds the last row of the
same object within ``time + window``, and the pairs in between are expanded with array arithmetic in
bounded chunks.  The cost is ``O(n log n + P)`` for ``P`` co-acting pairs, instead of a self-join.
co_similar_tweet first finds candidate pairs with prefix filtering (Bayardo et al., "Scaling up all pairs
similarity search", WWW 2007: two sets with Jaccard >= t share a token among the first
``|x| - ceil(t|x|) + 1`` tokens of each, in one global order, rarest first), then checks the exact Jaccard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from flockwatch.graph._arrays import unique_counts, unique_first, unique_inverse, unique_sorted
from flockwatch.graph.text import hashtags, normalize_message, token_table
from flockwatch.graph.toolkit_csv import Table
from flockwatch.graph.urls import canonicalize_url

Kind = Literal["co_tweet", "co_retweet", "co_reply", "co_similar_tweet", "co_link", "co_post", "co_hashtag", "co_media"]
KINDS: tuple[str, ...] = get_args(Kind)

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

# Pairs expanded per chunk: bounds memory (about 50 bytes a pair) whatever the data.
CHUNK_PAIRS = 4_000_000
N_EXAMPLES = 3


@dataclass(frozen=True)
class Options:
    window: float = 60.0
    min_weight: int = 1
    similarity: float = 0.8
    min_tokens: int = 1
    min_hashtags: int = 3
    include_self_loops: bool = False
    canonical_urls: bool = False
    # Keep the toolkit's empty-URL rows (an empty `urls` cell is a URL ""): exact toolkit co_link network.
    toolkit_compat: bool = False
    evidence: bool = True


@dataclass
class Rows:
    """What a kind compares: one row per (post, object); ``post`` indexes the table's posts."""

    post: I64
    user: I64
    time: F64
    obj: I64  # dense object codes 0..n_objects-1
    obj_label: Sequence[str]
    # Weights count distinct (post, user) keys: for co_link a repeated message_id may carry two users.


@dataclass
class EdgeTable:
    """A directed weighted network with evidence columns (parallel arrays, one entry per edge)."""

    kind: str
    users: list[str]
    usernames: dict[str, str]
    source: I64
    target: I64
    weight: I64
    evidence: dict[str, list[str] | list[int] | list[float]] = field(default_factory=dict)
    # user id -> cluster id, once clusters are known (exported as a node attribute)
    node_cluster: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.source)

    def rows(self) -> Iterator[dict[str, str | int | float]]:
        """One dict per edge: ``source``, ``target`` (user ids), ``weight``, then the evidence columns."""
        for i in range(len(self.source)):
            row: dict[str, str | int | float] = {
                "source": self.users[int(self.source[i])],
                "target": self.users[int(self.target[i])],
                "weight": int(self.weight[i]),
            }
            for name, values in self.evidence.items():
                row[name] = values[i]
            yield row


# --------------------------------------------------------------------------------------------------------
# Rows per kind


def _codes(labels: Sequence[str]) -> tuple[I64, list[str]]:
    # codes in order of first appearance; a lookup per label is cheaper than a generator calling setdefault
    index = {x: i for i, x in enumerate(dict.fromkeys(labels))}
    return np.fromiter(map(index.__getitem__, labels), dtype=np.int64, count=len(labels)), list(index)


def _post_rows(table: Table, posts: Sequence[int], labels: Sequence[str]) -> Rows:
    p = np.asarray(posts, dtype=np.int64)
    user = np.asarray(table.user, dtype=np.int64)
    time = np.asarray(table.time, dtype=np.float64)
    obj, names = _codes(labels)
    return Rows(post=p, user=user[p] if len(p) else p, time=time[p] if len(p) else time[:0], obj=obj,
                obj_label=names)  # fmt: skip


def rows_for(table: Table, kind: str, options: Options) -> Rows:
    """The (post, object) rows a kind compares; co_similar_tweet is handled by :func:`similar_pairs`."""
    originals = [i for i, r in enumerate(table.repost_id) if r is None]
    if kind == "co_tweet":
        orig, keys = _originals_normalized(table)
        return _post_rows(table, orig.tolist(), keys)
    if kind == "co_retweet":
        posts = [i for i, r in enumerate(table.repost_id) if r is not None]
        return _post_rows(table, posts, [table.repost_id[i] or "" for i in posts])
    if kind == "co_reply":
        posts = [i for i in originals if table.reply_id[i] is not None]
        return _post_rows(table, posts, [table.reply_id[i] or "" for i in posts])
    if kind == "co_post":
        return _post_rows(table, range(len(table)), [""] * len(table))
    if kind == "co_hashtag":
        posts, labels = [], []
        for i in originals:
            tags = hashtags(table.message[i])
            if len(tags) >= options.min_hashtags:
                posts.append(i)
                labels.append(" ".join("#" + h for h in tags))
        return _post_rows(table, posts, labels)
    if kind == "co_media":
        posts, labels = [], []
        for i in originals:
            for h in dict.fromkeys(table.media[i]):
                posts.append(i)
                labels.append(h)
        return _post_rows(table, posts, labels)
    if kind == "co_link":
        keep = [k for k, url in enumerate(table.link_url) if url or options.toolkit_compat]
        url_labels = [table.link_url[k] for k in keep]
        if options.canonical_urls:
            canon = {u: canonicalize_url(u) for u in dict.fromkeys(url_labels)}
            seen: set[tuple[int, str]] = set()
            kept: list[int] = []
            url_labels = []
            for k in keep:
                key = (table.link_post[k], canon[table.link_url[k]])
                if key not in seen:
                    seen.add(key)
                    kept.append(k)
                    url_labels.append(key[1])
            keep = kept
        obj, names = _codes(url_labels)
        idx = np.asarray(keep, dtype=np.int64)
        return Rows(
            post=np.asarray(table.link_post, dtype=np.int64)[idx],
            user=np.asarray(table.link_user, dtype=np.int64)[idx],
            time=np.asarray(table.link_time, dtype=np.float64)[idx],
            obj=obj,
            obj_label=names,
        )
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


# --------------------------------------------------------------------------------------------------------
# The sliding-window self-join


def window_pairs(obj: I64, time: F64, window: float, chunk: int = CHUNK_PAIRS) -> Iterator[tuple[I64, I64]]:
    """Yield ``(a, b)`` row indices with ``obj[a] == obj[b]``, ``a != b`` and ``|time[a] - time[b]| <= window``.

    Each unordered pair comes once, with ``time[a] <= time[b]``.  Sort by (object, time); a dense rank of
    the times and of ``time + window`` turns "same object and within the window" into one integer
    ``searchsorted``; the pairs are then expanded in chunks of about ``chunk`` pairs.
    """
    n = len(obj)
    if n < 2:
        return
    order = np.lexsort((time, obj))
    o = obj[order]
    t = time[order]
    ends = t + window
    grid = unique_sorted(np.concatenate([t, ends]))
    rank_t = np.searchsorted(grid, t)
    rank_e = np.searchsorted(grid, ends)
    span = np.int64(len(grid) + 1)
    key = o * span + rank_t
    hi = np.searchsorted(key, o * span + rank_e, side="right")
    idx = np.arange(n, dtype=np.int64)
    counts = hi - idx - 1
    has = np.flatnonzero(counts > 0)
    if len(has) == 0:
        return
    cum = np.cumsum(counts[has])
    start = 0
    while start < len(has):
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + chunk, side="right"))
        stop = max(stop, start + 1)
        sel = has[start:stop]
        c = counts[sel]
        total = int(c.sum())
        a = np.repeat(sel, c)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
        b = a + 1 + offsets
        yield order[a], order[b]
        start = stop


# --------------------------------------------------------------------------------------------------------
# co_similar_tweet candidates


@dataclass
class SimilarPairs:
    """Verified similar post pairs (indices into the table), with the Jaccard of each."""

    a: I64
    b: I64
    jaccard: F64
    posts: I64  # posts that can be similar to anything (for self-loops)


def _originals_normalized(table: Table) -> tuple[I64, list[str]]:
    """Non-repost posts and their co_tweet keys (cached on the table: co_similar_tweet reuses them)."""
    cached = table.cache.get("originals_normalized")
    if cached is None:
        originals = [i for i, r in enumerate(table.repost_id) if r is None]
        messages = [table.message[i] for i in originals]
        keys = {m: normalize_message(m) for m in dict.fromkeys(messages)}
        cached = (np.asarray(originals, dtype=np.int64), list(map(keys.__getitem__, messages)))
        table.cache["originals_normalized"] = cached
    return cached  # type: ignore[return-value]


def _expand(starts: I64, lengths: I64) -> I64:
    """Concatenated ranges ``starts[i] .. starts[i] + lengths[i] - 1``."""
    total = int(lengths.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets


def _intersections(indptr: I64, tokens: I64, x: I64, y: I64) -> I64:
    """``|set(x) & set(y)|`` for each pair of token sets (CSR rows ``x[k]`` and ``y[k]``), by sorting."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    vocab = np.int64(int(tokens.max()) + 1 if len(tokens) else 1)
    out = np.zeros(len(x), dtype=np.int64)
    # in batches, so that the concatenated token lists stay small
    cum = np.cumsum((indptr[x + 1] - indptr[x]) + (indptr[y + 1] - indptr[y]))
    start = 0
    while start < len(x):
        base = int(cum[start - 1]) if start else 0
        stop = max(int(np.searchsorted(cum, base + CHUNK_PAIRS, side="right")), start + 1)
        k = np.arange(start, stop, dtype=np.int64)
        lx = indptr[x[k] + 1] - indptr[x[k]]
        ly = indptr[y[k] + 1] - indptr[y[k]]
        toks = np.concatenate([tokens[_expand(indptr[x[k]], lx)], tokens[_expand(indptr[y[k]], ly)]])
        owner = np.concatenate([np.repeat(k, lx), np.repeat(k, ly)])
        codes = np.sort(owner * vocab + toks)
        dup = codes[1:][codes[1:] == codes[:-1]]
        out += np.bincount(dup // vocab, minlength=len(x))
        start = stop
    return out


def similar_pairs(table: Table, options: Options) -> SimilarPairs:
    """Post pairs within the window whose token sets have Jaccard ``>= options.similarity``.

    Exact for the token sets of :func:`~flockwatch.graph.text.token_set`: candidates share a prefix token
    (rarest-first order; prefix length ``|x| - ceil(t|x|) + 1``, computed with a small tolerance so that
    floating point can only make it longer), and every candidate is checked with the toolkit's expression
    ``len(x & y) / len(x | y) >= t`` (the same IEEE division).
    """
    threshold = options.similarity
    empty = np.zeros(0, dtype=np.int64)
    originals, keys = _originals_normalized(table)
    doc_index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    doc_of = np.fromiter(map(doc_index.__getitem__, keys), dtype=np.int64, count=len(keys))
    indptr, tokens = token_table(list(doc_index))
    sizes = np.diff(indptr)
    valid = sizes >= max(options.min_tokens, 1)
    ok_post = valid[doc_of] if len(doc_of) else np.zeros(0, dtype=bool)
    posts, post_doc = originals[ok_post], doc_of[ok_post]
    if threshold > 1.0 or len(posts) == 0:
        return SimilarPairs(empty, empty, np.zeros(0), posts if threshold <= 1.0 else empty)
    time_all = np.asarray(table.time, dtype=np.float64)
    if threshold <= 0:  # every pair is similar enough: candidates are all pairs in the window
        row_post, row_obj = np.arange(len(posts), dtype=np.int64), np.zeros(len(posts), dtype=np.int64)
    else:
        n_docs = len(sizes)
        doc_rows = np.repeat(np.arange(n_docs, dtype=np.int64), sizes)
        df = np.bincount(tokens[valid[doc_rows]], minlength=int(tokens.max()) + 1 if len(tokens) else 1)
        order = np.lexsort((np.arange(len(df)), df))
        rank = np.empty(len(df), dtype=np.int64)
        rank[order] = np.arange(len(df), dtype=np.int64)
        n_rank = np.int64(len(df))
        # each document's tokens by rank: one int64 sort of (document, rank) codes
        r_sorted = np.sort(doc_rows * n_rank + rank[tokens]) % n_rank
        pos = np.arange(len(r_sorted), dtype=np.int64) - indptr[doc_rows]
        keep_len = np.clip(sizes - np.ceil(threshold * sizes - 1e-9).astype(np.int64) + 1, 1, None)
        in_prefix = (pos < keep_len[doc_rows]) & valid[doc_rows]
        pref_tok = r_sorted[in_prefix]
        pref_len = np.bincount(doc_rows[in_prefix], minlength=n_docs)
        pref_ptr = np.concatenate([[0], np.cumsum(pref_len)]).astype(np.int64)
        lengths = pref_len[post_doc]
        row_post = np.repeat(np.arange(len(posts), dtype=np.int64), lengths)
        row_obj = pref_tok[_expand(pref_ptr[post_doc], lengths)]
    row_time = time_all[posts][row_post]
    n_posts = np.int64(len(posts))
    found: list[I64] = []
    for ra, rb in window_pairs(row_obj, row_time, options.window):
        ka, kb = row_post[ra], row_post[rb]
        ne = ka != kb
        ka, kb = ka[ne], kb[ne]
        found.append(unique_sorted(np.minimum(ka, kb) * n_posts + np.maximum(ka, kb)))
    if not found:
        return SimilarPairs(empty, empty, np.zeros(0), posts)
    pair = unique_sorted(np.concatenate(found))
    ka, kb = pair // n_posts, pair % n_posts
    da, db = post_doc[ka], post_doc[kb]
    nd = np.int64(len(sizes))
    dpairs, inverse = unique_inverse(np.minimum(da, db) * nd + np.maximum(da, db))
    x, y = dpairs // nd, dpairs % nd
    jac = np.ones(len(dpairs), dtype=np.float64)
    differ = x != y
    sx, sy = sizes[x[differ]], sizes[y[differ]]
    # |x & y| <= min size, so Jaccard <= min/max: skip the intersection where that already fails
    maybe = np.minimum(sx, sy) >= threshold * np.maximum(sx, sy) - 1e-9
    j_differ = np.zeros(int(differ.sum()), dtype=np.float64)
    xi, yi = x[differ][maybe], y[differ][maybe]
    inter = _intersections(indptr, tokens, xi, yi)
    j_differ[maybe] = inter / (sizes[xi] + sizes[yi] - inter)
    jac[differ] = j_differ
    pj = jac[inverse]
    ok = pj >= threshold
    return SimilarPairs(posts[ka[ok]], posts[kb[ok]], pj[ok], posts)


# --------------------------------------------------------------------------------------------------------
# Weights and evidence


PairChunks = Callable[[], Iterator[tuple[I64, I64, I64]]]  # -> (row a, row b, object code) chunks


def _aggregate(
    kind: str,
    table: Table,
    post: I64,
    user: I64,
    time: F64,
    obj_label: Callable[[int], str],
    pair_chunks: PairChunks,
    loops_rows: I64,
    options: Options,
) -> EdgeTable:
    """Turn co-acting row pairs into weighted directed edges (two passes: weights, then evidence)."""
    n_users = np.int64(max(len(table.users), 1))
    # A weight counts distinct (post, user) keys of the source: the toolkit's count(distinct message_id)
    # grouped by (user_1, user_2).  Keys are made dense so that key * n_users never overflows.
    key_codes, row_key = unique_inverse(post * n_users + user)
    key_user = key_codes % n_users
    incidences: list[I64] = []
    for ra, rb, _ in pair_chunks():
        ka, kb = row_key[ra], row_key[rb]
        ua, ub = user[ra], user[rb]
        keep = ka != kb
        if not options.include_self_loops:
            keep &= ua != ub
        inc = np.concatenate([ka[keep] * n_users + ub[keep], kb[keep] * n_users + ua[keep]])
        incidences.append(unique_sorted(inc))
    if options.include_self_loops and len(loops_rows):
        incidences.append(unique_sorted(row_key[loops_rows] * n_users + user[loops_rows]))
    inc_all = unique_sorted(np.concatenate(incidences)) if incidences else np.zeros(0, dtype=np.int64)
    src = key_user[inc_all // n_users]
    tgt = inc_all % n_users
    edge_codes, weights = unique_counts(src * n_users + tgt)
    keep_edges = weights >= options.min_weight
    edge_codes, weights = edge_codes[keep_edges], weights[keep_edges].astype(np.int64)
    result = EdgeTable(
        kind=kind,
        users=table.users,
        usernames=table.usernames,
        source=edge_codes // n_users,
        target=edge_codes % n_users,
        weight=weights,
    )
    if options.evidence:
        result.evidence = _evidence(table, post, user, time, obj_label, pair_chunks, edge_codes, n_users)
    return result


def _evidence(
    table: Table,
    post: I64,
    user: I64,
    time: F64,
    obj_label: Callable[[int], str],
    pair_chunks: PairChunks,
    edge_codes: I64,
    n_users: np.int64,
) -> dict[str, list[str] | list[int] | list[float]]:
    """Per kept edge, its co-actions: (source post, target post, Δt = t_target - t_source, object).

    ``n_coactions`` counts distinct post pairs, ``n_objects`` distinct shared objects; times are the
    earlier post's; ``source_first_share`` is the share of co-actions where the source posted strictly
    first (leader/follower); ``examples`` lists the first co-actions in time.
    """
    n_edges = len(edge_codes)
    parts: list[tuple[I64, F64, F64, I64, I64, I64]] = []
    for ra, rb, ob in pair_chunks():
        if n_edges == 0:
            break
        for x, y in ((ra, rb), (rb, ra)):
            ux, uy = user[x], user[y]
            code = ux * n_users + uy
            pos = np.minimum(np.searchsorted(edge_codes, code), n_edges - 1)
            hit = (edge_codes[pos] == code) & ((post[x] != post[y]) | (ux != uy))
            parts.append(
                (pos[hit], (time[y] - time[x])[hit], np.minimum(time[x], time[y])[hit], post[x][hit],
                 post[y][hit], ob[hit])
            )  # fmt: skip
    if not parts:
        nan = [float("nan")] * n_edges
        return {"n_coactions": [0] * n_edges, "n_objects": [0] * n_edges, "first_time": nan,
                "last_time": nan, "min_dt_s": nan, "median_dt_s": nan, "source_first_share": nan,
                "examples": [""] * n_edges}  # fmt: skip
    e = np.concatenate([p[0] for p in parts])
    dt = np.concatenate([p[1] for p in parts])
    t0 = np.concatenate([p[2] for p in parts])
    sp = np.concatenate([p[3] for p in parts])
    tp = np.concatenate([p[4] for p in parts])
    ob = np.concatenate([p[5] for p in parts])
    n_obj = np.int64(int(ob.max()) + 1 if len(ob) else 1)
    n_post = np.int64(max(int(sp.max()), int(tp.max())) + 1 if len(sp) else 1)
    # distinct objects per edge (single int64 codes sort much faster than lexsort on several keys)
    n_objects = np.bincount(unique_sorted(e * n_obj + ob) // n_obj, minlength=n_edges)
    # distinct co-actions (edge, source post, target post); then ordered by (edge, time)
    keep = unique_first((e * n_post + sp) * n_post + tp)
    e, dt, t0, sp, tp, ob = e[keep], dt[keep], t0[keep], sp[keep], tp[keep], ob[keep]
    order = np.lexsort((t0, e))
    e, dt, t0, sp, tp, ob = e[order], dt[order], t0[order], sp[order], tp[order], ob[order]
    count = np.bincount(e, minlength=n_edges)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    has = count > 0
    hs, hc = start[has], count[has]
    ad = np.abs(dt)
    first, last, min_dt, median, lead = (np.full(n_edges, np.nan) for _ in range(5))
    if len(hs):
        first[has] = t0[hs]
        last[has] = t0[hs + hc - 1]
        min_dt[has] = np.minimum.reduceat(ad, hs)
        # median of |dt| per edge: sort by (edge, |dt|), average the middle one or two
        ads = ad[np.lexsort((ad, e))]
        median[has] = (ads[hs + (hc - 1) // 2] + ads[hs + hc // 2]) / 2
        lead[has] = np.bincount(e, weights=(dt > 0).astype(np.float64), minlength=n_edges)[has] / hc
    rank = np.arange(len(e), dtype=np.int64) - start[e]
    examples: list[list[str]] = [[] for _ in range(n_edges)]
    for j in np.flatnonzero(rank < N_EXAMPLES).tolist():
        label = obj_label(int(ob[j]))
        label = label if len(label) <= 80 else label[:77] + "..."
        examples[int(e[j])].append(
            f"{table.message_id[int(sp[j])]}>{table.message_id[int(tp[j])]} dt={float(dt[j]):+g}s {label}"
        )
    return {
        "n_coactions": count.astype(np.int64).tolist(),
        "n_objects": n_objects.astype(np.int64).tolist(),
        "first_time": first.tolist(),
        "last_time": last.tolist(),
        "min_dt_s": min_dt.tolist(),
        "median_dt_s": median.tolist(),
        "source_first_share": lead.tolist(),
        "examples": [" | ".join(x) for x in examples],
    }


EVIDENCE_COLUMNS = (
    "n_coactions", "n_objects", "first_time", "last_time", "min_dt_s", "median_dt_s",
    "source_first_share", "examples",
)  # fmt: skip


def coordination_network(table: Table, kind: str, options: Options | None = None) -> EdgeTable:
    """The ``kind`` network of ``table``: directed weighted edges with evidence (see the module docstring)."""
    opts = options or Options()
    if opts.window < 0:
        raise ValueError("window must be >= 0 seconds")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "co_media" and not table.has_media_column:
        raise ValueError("co_media needs a `media` column (space-separated media hashes) after `urls`")
    if kind == "co_similar_tweet":
        sim = similar_pairs(table, opts)
        post = np.arange(len(table), dtype=np.int64)
        user = np.asarray(table.user, dtype=np.int64)
        time = np.asarray(table.time, dtype=np.float64)
        jac = sim.jaccard

        def similar_chunks() -> Iterator[tuple[I64, I64, I64]]:
            for s in range(0, len(sim.a), CHUNK_PAIRS):
                # object code = the pair's index, so its label can print the similarity
                yield (
                    sim.a[s : s + CHUNK_PAIRS],
                    sim.b[s : s + CHUNK_PAIRS],
                    np.arange(s, min(s + CHUNK_PAIRS, len(sim.a)), dtype=np.int64),
                )

        return _aggregate(kind, table, post, user, time, lambda k: f"jaccard={jac[k]:.3f}", similar_chunks,
                          sim.posts, opts)  # fmt: skip
    rows = rows_for(table, kind, opts)
    labels = rows.obj_label

    def chunks() -> Iterator[tuple[I64, I64, I64]]:
        for a, b in window_pairs(rows.obj, rows.time, opts.window):
            yield a, b, rows.obj[a]

    return _aggregate(kind, table, rows.post, rows.user, rows.time, lambda k: labels[k], chunks,
                      np.arange(len(rows.post), dtype=np.int64), opts)  # fmt: skip
