"""What every plot relies on: inert bounded labels, time parsing, Agg only, and safe concurrent use."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from flockwatch.plots import cascade_tree, cluster_graph
from flockwatch.plots._figure import account_label, epoch, label, score_of
from tests.unit.plots.helpers import chain_cascade


@given(st.text(max_size=400), st.integers(1, 120))
def test_labels_are_bounded_inert_and_single_line(text: str, limit: int) -> None:
    out = label(text, limit)
    plain = out.replace(r"\$", "$")
    assert len(plain) <= limit
    assert not any(unicodedata.category(ch)[0] == "C" for ch in plain)
    assert "\n" not in plain and plain == plain.strip()
    # every dollar is escaped, so matplotlib never enters mathtext
    assert out.count("$") == out.count(r"\$")


@given(st.text(alphabet=st.characters(categories=["L", "N", "Zs"]), max_size=50))
def test_short_plain_text_only_has_its_whitespace_folded(text: str) -> None:
    assert label(text, 60) == " ".join(text.split())


def test_account_labels() -> None:
    assert account_label("tw:123", "alice", None) == "@alice"
    assert account_label("tw:123", None, None) == "tw:123"
    assert account_label("tw:123", "alice", lambda a: f"anon-{len(a)}") == "anon-6"
    assert account_label(None, "alice", None) == "?"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_epoch_reads_every_form_the_store_uses(when: datetime) -> None:
    seconds = when.timestamp()
    assert epoch(when.isoformat()) == seconds
    assert epoch(when.isoformat().replace("+00:00", "Z")) == seconds
    assert epoch(when.replace(tzinfo=None).isoformat()) == seconds  # naive is UTC
    assert epoch(when.astimezone(timezone(timedelta(hours=5))).isoformat()) == seconds
    assert abs((epoch(int(seconds * 1000)) or 0) - seconds) < 0.001  # histogram keys are milliseconds
    assert epoch(seconds) == seconds


def test_epoch_refuses_what_is_not_a_time() -> None:
    for bad in (None, True, "", "soon", float("nan"), float("inf"), [1]):
        assert epoch(bad) is None


def test_scores_outside_zero_one_are_no_score() -> None:
    assert score_of({"text_score": {"machine_score": 0.3}}, "machine") == 0.3
    assert score_of({"text_score": {"machine_score": 7}}, "machine") is None
    assert score_of({"text_score": {"machine_score": True}}, "machine") is None
    media = {"media_by_url": {"a": {"manipulation_score": 0.2}, "b": {"manipulation_score": 0.7}, "c": {}}}
    assert score_of(media, "media") == 0.7
    assert score_of({"media_risk": 0.1, **media}, "media") == 0.1


def test_agg_only_whatever_the_environment_asks() -> None:
    """A GUI backend asked for through MPLBACKEND is never loaded: the plots bring their own Agg canvas."""
    code = (
        "import sys\n"
        "from flockwatch.plots import cascade_tree\n"
        "from tests.unit.plots.helpers import chain_cascade\n"
        "png = cascade_tree(chain_cascade(5), fmt='png')\n"
        "assert png.startswith(b'\\x89PNG'), png[:8]\n"
        "loaded = [m for m in sys.modules if m.startswith(('matplotlib.pyplot', 'matplotlib.backends.backend_tk',"
        " 'matplotlib.backends.backend_qt', 'tkinter'))]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    env = {"MPLBACKEND": "TkAgg", "PATH": "/usr/bin:/bin", "PYTHONPATH": "services:.", "DISPLAY": ""}
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_concurrent_renders_give_the_same_bytes() -> None:
    cascade = chain_cascade(60)
    cluster = {"cluster_id": "c", "accounts": ["tw:a", "tw:b", "tw:c"]}
    edges = [{"kind": "co_link", "source": "tw:a", "target": "tw:b", "weight": 2}]
    expected = (cascade_tree(cascade, fmt="svg"), cluster_graph(cluster, edges, "svg"))
    with ThreadPoolExecutor(4) as pool:
        trees = list(pool.map(lambda _: cascade_tree(cascade, fmt="svg"), range(6)))
        graphs = list(pool.map(lambda _: cluster_graph(cluster, edges, "svg"), range(6)))
    assert set(trees) == {expected[0]} and set(graphs) == {expected[1]}


def test_text_the_font_lacks_draws_quietly() -> None:
    """Weibo posts are Chinese; the bundled font has no CJK glyphs: boxes are drawn, no warning reaches the caller."""
    posts = [{"key": "tw:0", "text": "转发微博 这是谣言 🙂", "author": {"id": "u"}, "platform": "tw"}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = cascade_tree(chain_cascade(4), posts, "svg")
        cascade_tree(chain_cascade(4), posts, "png")
    assert "转发微博 这是谣言 🙂".encode() in svg  # SVG keeps the text itself: a browser finds a font
