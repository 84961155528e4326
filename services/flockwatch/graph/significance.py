"""Edge significance against a time-shuffle null model, with Benjamini-Hochberg FDR control.

Null model (in the spirit of Pacheco et al., "Uncovering coordinated networks on social media", ICWSM
2021, and of permutation tests on co-activity networks): within each shared object (a text, a URL, a
reposted id...), the posting times are shuffled among the rows that share it.  Each object keeps its
audience and its time profile, each account keeps what it shared; only *who acted when* is broken, which is
exactly what coordination claims.  For an edge with observed weight ``w``, over ``B`` shuffles,

    p = (1 + #{b : w_b >= w}) / (1 + B)

(Phipson & Smyth 2010: never 0), and the q-values follow Benjamini & Hochberg (1995) over all tested
edges: ``q_(i) = min_{j >= i} p_(j) m / j``.  An edge is ``significant`` when ``q <= fdr``.  The smallest
reachable p is ``1 / (1 + B)``, so ``B`` must exceed ``m / fdr`` for any edge to pass when many are tested.

co_post has one object (everything), so its null is "shuffle all times"; co_similar_tweet has no object
to shuffle within and is not supported (its pairs are defined by text similarity, not by a shared key).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from flockwatch.graph._arrays import unique_counts
from flockwatch.graph.coordination import EdgeTable, Options, Rows, rows_for, window_pairs
from flockwatch.graph.toolkit_csv import Table

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


def benjamini_hochberg(p: F64) -> F64:
    """BH-adjusted q-values (monotone, capped at 1), in the input order."""
    m = len(p)
    if m == 0:
        return np.zeros(0)
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def _edge_weights(rows: Rows, time: F64, window: float, n_users: np.int64, loops: bool) -> tuple[I64, I64]:
    """(edge codes ``src * n_users + tgt``, weights) of the rows with the given times (no min weight)."""
    key = rows.post * n_users + rows.user
    incidences: list[I64] = []
    for a, b in window_pairs(rows.obj, time, window):
        ka, kb = key[a], key[b]
        ua, ub = rows.user[a], rows.user[b]
        keep = ka != kb
        if not loops:
            keep &= ua != ub
        # (source key, target user): at most n_posts * n_users^2, kept below 2^63 by the callers' sizes
        incidences.append(np.concatenate([ka[keep] * n_users + ub[keep], kb[keep] * n_users + ua[keep]]))
    if not incidences:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    inc = np.unique(np.concatenate(incidences), return_counts=True)[0]
    src = (inc // n_users) % n_users
    return unique_counts(src * n_users + inc % n_users)


def shuffle_within(obj: I64, time: F64, rng: np.random.Generator) -> F64:
    """Times permuted among the rows of each object (rows of different objects never swap times)."""
    by_obj = np.argsort(obj, kind="stable")
    shuffled = np.lexsort((rng.random(len(obj)), obj))
    out = np.empty_like(time)
    out[by_obj] = time[shuffled]
    return out


def edge_pvalues(
    edges: EdgeTable, table: Table, kind: str, options: Options, permutations: int = 200, seed: int = 0
) -> F64:
    """Permutation p-value of each edge of ``edges`` (same order)."""
    if kind == "co_similar_tweet":
        raise ValueError("significance is not defined for co_similar_tweet (no shared object to shuffle within)")
    rows = rows_for(table, kind, options)
    n_users = np.int64(max(len(table.users), 1))
    # rows of an object shared by a single user can only make self-loops: leave them out
    obj_user = np.unique(rows.obj * n_users + rows.user)
    objs, n_distinct = np.unique(obj_user // n_users, return_counts=True)
    shared = np.isin(rows.obj, objs[n_distinct >= 2]) if not options.include_self_loops else np.ones(len(rows.obj), bool)
    rows = Rows(rows.post[shared], rows.user[shared], rows.time[shared], rows.obj[shared], rows.obj_label)
    observed = edges.source * n_users + edges.target
    exceed = np.zeros(len(observed), dtype=np.int64)
    rng = np.random.default_rng(seed)
    for _ in range(permutations):
        codes, weights = _edge_weights(rows, shuffle_within(rows.obj, rows.time, rng), options.window, n_users,
                                       options.include_self_loops)  # fmt: skip
        pos = np.minimum(np.searchsorted(codes, observed), max(len(codes) - 1, 0))
        null_w = np.where((len(codes) > 0) & (codes[pos] == observed), weights[pos], 0) if len(codes) else 0
        exceed += null_w >= edges.weight
    return (1.0 + exceed) / (1.0 + permutations)


def add_significance(
    edges: EdgeTable,
    table: Table,
    kind: str,
    options: Options,
    permutations: int = 200,
    fdr: float = 0.05,
    seed: int = 0,
) -> None:
    """Add ``p_value``, ``q_value`` and ``significant`` evidence columns to ``edges`` (in place)."""
    p = edge_pvalues(edges, table, kind, options, permutations, seed)
    q = benjamini_hochberg(p)
    edges.evidence["p_value"] = p.tolist()
    edges.evidence["q_value"] = q.tolist()
    edges.evidence["significant"] = [int(x) for x in (q <= fdr)]
