"""Edge significance against a time-shuffle null model, with Benjamini-Hochberg FDR control.

Null model (in the spirit of Pacheco et al., "Uncovering coordinated networks on social media", ICWSM
2021, and of permutation tests on co-activity networks): within each shared object (a text, a URL, a
reposted id...), the posting times are shuffled among the rows that share it.  Each object keeps its
audience and its time profile, each account keeps what it shared; only *who acted when* is broken, which is
exactly what coordination claims.  For an edge with observed weight ``w``, over ``B`` shuffles,

    p = (1 + #{b : w_b >= w}) / (1 + B)

(Phipson & Smyth 2010: never 0; column ``p_perm``).  That p cannot go below ``1 / (1 + B)``, so with
thousands of tested edges no FDR procedure can pass any of them at an affordable ``B``.  The reported
``p_value`` is therefore the Poisson tail ``P(X >= w)`` with ``X ~ Poisson(lambda)``, ``lambda`` = the
edge's mean weight over the shuffles (at least ``1 / (1 + B)``): under the null, co-actions are rare
coincidences, whose count is close to Poisson.  The q-values follow Benjamini & Hochberg (1995) over all
tested edges, ``q_(i) = min_{j >= i} p_(j) m / j``; an edge is ``significant`` when ``q <= fdr``.

co_post has one object (everything), so its null is "shuffle all times"; co_similar_tweet has no object
to shuffle within and is not supported (its pairs are defined by text similarity, not by a shared key).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from flockwatch.graph._arrays import unique_counts, unique_inverse, unique_sorted
from flockwatch.graph.coordination import EdgeTable, Options, Rows, rows_for, window_pairs
from flockwatch.graph.toolkit_csv import Table

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


def benjamini_hochberg(p: F64) -> F64:
    """BH-adjusted q-values (monotone, capped at 1), in the input order.

    ``q_(i) = min_{j >= i} p_(j) m / j`` over the ``m`` sorted p-values (Benjamini & Hochberg [1]_).

    Parameters
    ----------
    p : numpy.ndarray
        P-values, one per test.

    Returns
    -------
    numpy.ndarray
        The q-values, in the order of ``p``; a test passes at FDR ``alpha`` when ``q <= alpha``.

    References
    ----------
    .. [1] Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate: a practical and powerful approach
       to multiple testing", Journal of the Royal Statistical Society B 57(1), 1995.

    Examples
    --------
    >>> import numpy as np
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.20])).round(4).tolist()  # sorted p * 4 / rank
    [0.04, 0.0533, 0.0533, 0.2]
    """
    m = len(p)
    if m == 0:
        return np.zeros(0)
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def _edge_weights(
    rows: Rows, key: I64, key_user: I64, time: F64, window: float, n_users: np.int64, loops: bool
) -> tuple[I64, I64]:
    """(edge codes ``src * n_users + tgt``, weights) of the rows with the given times (no min weight).

    ``key`` is a dense id of each row's (post, user), ``key_user`` the user of each key.
    """
    incidences: list[I64] = []
    for a, b in window_pairs(rows.obj, time, window):
        ka, kb = key[a], key[b]
        ua, ub = rows.user[a], rows.user[b]
        keep = ka != kb
        if not loops:
            keep &= ua != ub
        incidences.append(np.concatenate([ka[keep] * n_users + ub[keep], kb[keep] * n_users + ua[keep]]))
    if not incidences:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    inc = unique_sorted(np.concatenate(incidences))
    return unique_counts(key_user[inc // n_users] * n_users + inc % n_users)


def shuffle_within(obj: I64, time: F64, rng: np.random.Generator) -> F64:
    """Times permuted among the rows of each object (rows of different objects never swap times)."""
    by_obj = np.argsort(obj, kind="stable")
    shuffled = np.lexsort((rng.random(len(obj)), obj))
    out = np.empty_like(time)
    out[by_obj] = time[shuffled]
    return out


def poisson_sf(k: int, lam: float) -> float:
    """``P(X >= k)`` for ``X ~ Poisson(lam)``, summed in log space (no cancellation for tiny tails).

    Parameters
    ----------
    k : int
        The observed count.
    lam : float
        The Poisson mean.

    Returns
    -------
    float
        The upper tail; 1.0 when ``k <= 0``, 0.0 when ``lam <= 0 < k``.

    Examples
    --------
    >>> round(poisson_sf(1, 2.0), 4)  # 1 - exp(-2)
    0.8647
    >>> 0 < poisson_sf(60, 0.01) < 1e-150  # about 0.01**60 / 60!, not rounded to 0
    True
    """
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k <= lam:  # the bulk: 1 - P(X < k)
        term = math.exp(-lam)
        cdf = term
        for i in range(1, k):
            term *= lam / i
            cdf += term
        return max(0.0, 1.0 - cdf)
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    total = 0.0
    i = k
    while True:
        total += math.exp(log_term)
        i += 1
        log_term += math.log(lam / i)
        if log_term < -745 or (i > k + 5 and math.exp(log_term) < total * 1e-17):
            break
    return min(1.0, total)


def edge_pvalues(
    edges: EdgeTable, table: Table, kind: str, options: Options, permutations: int = 200, seed: int = 0
) -> tuple[F64, F64, F64]:
    """Per edge of ``edges`` (same order): Poisson-tail p, permutation p, mean null weight.

    The null model (Pacheco et al. [1]_) and both p-values (Phipson & Smyth [2]_) are those of the module
    docstring; :func:`add_significance` has an example.

    Parameters
    ----------
    edges : EdgeTable
        The ``kind`` network of ``table``, as :func:`~flockwatch.graph.coordination.coordination_network` built it.
    table : Table
        The posts.
    kind : str
        The network kind (any but ``co_similar_tweet``).
    options : Options
        The options the network was built with (window, self-loops).
    permutations : int
        ``B``, the number of time shuffles.
    seed : int
        Seed of the shuffles.

    Returns
    -------
    tuple of numpy.ndarray
        ``(p_value, p_perm, null_mean)``, one entry per edge.

    Raises
    ------
    ValueError
        For ``kind == "co_similar_tweet"`` (no shared object to shuffle within).

    References
    ----------
    .. [1] D. Pacheco, P.-M. Hui, C. Torres-Lugo, B. T. Truong, A. Flammini and F. Menczer, "Uncovering
       coordinated networks on social media: methods and case studies", ICWSM 2021.
    .. [2] B. Phipson and G. K. Smyth, "Permutation p-values should never be zero: calculating exact p-values
       when permutations are randomly drawn", Statistical Applications in Genetics and Molecular Biology 9(1),
       2010.
    """
    if kind == "co_similar_tweet":
        raise ValueError("significance is not defined for co_similar_tweet (no shared object to shuffle within)")
    rows = rows_for(table, kind, options)
    n_users = np.int64(max(len(table.users), 1))
    # rows of an object shared by a single user can only make self-loops: leave them out
    objs, n_distinct = unique_counts(unique_sorted(rows.obj * n_users + rows.user) // n_users)
    shared = np.isin(rows.obj, objs[n_distinct >= 2]) | options.include_self_loops
    rows = Rows(rows.post[shared], rows.user[shared], rows.time[shared], rows.obj[shared], rows.obj_label)
    key_codes, key = unique_inverse(rows.post * n_users + rows.user)
    key_user = key_codes % n_users
    observed = edges.source * n_users + edges.target
    exceed = np.zeros(len(observed), dtype=np.int64)
    null_sum = np.zeros(len(observed), dtype=np.float64)
    rng = np.random.default_rng(seed)
    for _ in range(permutations):
        times = shuffle_within(rows.obj, rows.time, rng)
        codes, weights = _edge_weights(rows, key, key_user, times, options.window, n_users, options.include_self_loops)
        if len(codes) == 0:
            continue
        pos = np.minimum(np.searchsorted(codes, observed), len(codes) - 1)
        null_w = np.where(codes[pos] == observed, weights[pos], 0)
        exceed += null_w >= edges.weight
        null_sum += null_w
    p_perm = ((1.0 + exceed) / (1.0 + permutations)).astype(np.float64)
    lam = np.maximum(null_sum / max(permutations, 1), 1.0 / (1.0 + permutations))
    p = np.array([poisson_sf(int(w), float(m)) for w, m in zip(edges.weight.tolist(), lam.tolist(), strict=True)])
    null_mean: F64 = null_sum / max(permutations, 1)
    return p.astype(np.float64), p_perm, null_mean


def add_significance(
    edges: EdgeTable,
    table: Table,
    kind: str,
    options: Options,
    permutations: int = 200,
    fdr: float = 0.05,
    seed: int = 0,
) -> None:
    """Add ``null_mean``, ``p_perm``, ``p_value``, ``q_value`` and ``significant`` columns (in place).

    p-values by :func:`edge_pvalues`, q-values by :func:`benjamini_hochberg` over all edges of ``edges``.

    Parameters
    ----------
    edges : EdgeTable
        The ``kind`` network of ``table``, as :func:`~flockwatch.graph.coordination.coordination_network` built it.
    table : Table
        The posts.
    kind : str
        The network kind (any but ``co_similar_tweet``).
    options : Options
        The options the network was built with (window, self-loops).
    permutations : int
        ``B``, the number of time shuffles.
    fdr : float
        An edge is ``significant`` (1) when its q-value is at most ``fdr``.
    seed : int
        Seed of the shuffles.

    Returns
    -------
    None
        The columns are added to ``edges.evidence``.

    References
    ----------
    .. [1] D. Pacheco, P.-M. Hui, C. Torres-Lugo, B. T. Truong, A. Flammini and F. Menczer, "Uncovering
       coordinated networks on social media: methods and case studies", ICWSM 2021.
    .. [2] B. Phipson and G. K. Smyth, "Permutation p-values should never be zero: calculating exact p-values
       when permutations are randomly drawn", Statistical Applications in Genetics and Molecular Biology 9(1),
       2010.
    .. [3] Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate: a practical and powerful approach
       to multiple testing", Journal of the Royal Statistical Society B 57(1), 1995.

    Examples
    --------
    u1 and u2 post six texts 5 s apart, u3 an hour later. A shuffle gives u1 and u2 the two close times of
    a text with chance 1/3, so the null mean is about 6 / 3; no shuffle reached 6: ``p_perm = 1 / (1 + 99)``.

    >>> from flockwatch.graph.coordination import Options, coordination_network
    >>> from flockwatch.graph.toolkit_csv import TableBuilder
    >>> b = TableBuilder()
    >>> for k in range(6):
    ...     for user, dt in (("u1", 0.0), ("u2", 5.0), ("u3", 3600.0)):
    ...         b.add(f"{user}-{k}", user, user, "", "", f"text {k}", k * 86400.0 + dt, [])
    >>> opts = Options(window=60)
    >>> edges = coordination_network(b.table, "co_tweet", opts)
    >>> add_significance(edges, b.table, "co_tweet", opts, permutations=99)
    >>> [(r["source"], r["target"], r["weight"], round(float(r["null_mean"])), r["p_perm"], r["significant"])
    ...  for r in edges.rows()]
    [('u1', 'u2', 6, 2, 0.01, 1), ('u2', 'u1', 6, 2, 0.01, 1)]
    """
    p, p_perm, null_mean = edge_pvalues(edges, table, kind, options, permutations, seed)
    q = benjamini_hochberg(p)
    edges.evidence["null_mean"] = null_mean.tolist()
    edges.evidence["p_perm"] = p_perm.tolist()
    edges.evidence["p_value"] = p.tolist()
    edges.evidence["q_value"] = q.tolist()
    edges.evidence["significant"] = [int(x) for x in (q <= fdr)]
