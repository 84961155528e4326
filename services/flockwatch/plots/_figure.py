"""What every plot shares: an Agg-only figure, reproducible PNG/SVG bytes, bounded and inert labels, times.

No ``pyplot``: each figure gets its own :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`, so no GUI backend
is ever chosen (whatever ``MPLBACKEND`` says) and nothing global is kept between calls. The rc settings a drawing
needs are applied with ``rc_context`` under one lock (rcParams are process-global, and the API renders from worker
threads), together with a filter for matplotlib's own warnings (missing glyphs), which are noise to a caller.
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, cast

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from flockwatch.dotted import dotted_get

Format = Literal["png", "svg"]
FORMATS: tuple[Format, ...] = ("png", "svg")
Pseudonymise = Callable[[str], str]

DPI = 100
# Longest label (node, legend entry) and title line; user text beyond this is cut with an ellipsis.
MAX_LABEL = 60
MAX_TITLE = 110

# The bundled DejaVu font only, so the same input draws the same pixels on every machine (a system font found on
# one machine and not another would change the PNG); SVG keeps text as text (escaped, searchable, smaller).
_RC: dict[str, Any] = {
    "font.family": ["DejaVu Sans"],
    "svg.fonttype": "none",
    "svg.hashsalt": "flockwatch",
    "svg.id": None,
    "path.simplify": False,  # every vertex drawn: the plots thin their own data
    "text.usetex": False,
    "axes.titlesize": "medium",
    "timezone": "UTC",
}
_LOCK = threading.Lock()


@contextmanager
def drawing() -> Iterator[None]:
    """Serialise drawing and apply the shared rc settings (see the module doc)."""
    with _LOCK, matplotlib.rc_context(cast(Any, _RC)), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas attached (width and height in inches at :data:`DPI`)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_bytes(fig: Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes with no date or software stamp, so the same input gives the same bytes."""
    check_format(fmt)
    buf = io.BytesIO()
    if fmt == "svg":
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    else:
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def label(text: object, limit: int = MAX_LABEL) -> str:
    """User text made inert and short for a figure: control and format characters dropped, whitespace folded,
    cut to ``limit`` characters with an ellipsis, and ``$`` escaped so matplotlib never reads it as mathtext (an
    unbalanced ``$`` would fail the drawing, a balanced pair would render as a formula). XML escaping is the SVG
    writer's job: it escapes every text it writes."""
    raw = "" if text is None else str(text)
    kept = "".join(" " if ch.isspace() else ch for ch in raw if unicodedata.category(ch)[0] != "C" or ch.isspace())
    folded = " ".join(kept.split())
    if len(folded) > limit:
        folded = folded[: max(limit - 1, 0)].rstrip() + "…"
    return folded.replace("$", r"\$")


def account_label(account: str | None, handle: str | None, pseudonymise: Pseudonymise | None) -> str:
    """How an account (``platform:author_id``) is shown: its pseudonym for researchers (never the handle, which
    names the person as surely as the id), else ``@handle``, else the account key."""
    if account is None:
        return "?"
    if pseudonymise is not None:
        return label(pseudonymise(account), 40)
    return label(f"@{handle}" if handle else account, 40)


def epoch(value: Any) -> float | None:
    """Epoch seconds from what the store holds: ISO-8601 text (``Z`` or an offset; naive is UTC), epoch seconds,
    epoch milliseconds (OpenSearch's ``key`` of a date histogram bucket, told apart by size) or a datetime."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
        return when.timestamp()
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            return None
        return number / 1000.0 if abs(number) > 1e11 else number
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def score_of(doc: Mapping[str, Any], score: str) -> float | None:
    """A post document's score in [0, 1]: ``machine`` (text_score.machine_score) or ``media`` (media_risk, else
    the highest manipulation score of its ``media_by_url`` entries); None when absent or out of range."""
    if score == "machine":
        value = dotted_get(doc, "text_score.machine_score")
    elif score == "media":
        value = doc.get("media_risk")
        if not isinstance(value, int | float) or isinstance(value, bool):
            entries = doc.get("media_by_url")
            values = [
                e.get("manipulation_score")
                for e in (entries.values() if isinstance(entries, Mapping) else [])
                if isinstance(e, Mapping)
            ]
            numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            value = max(numbers) if numbers else None
    else:
        raise ValueError(f"unknown score {score!r}; expected 'machine' or 'media'")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    number = float(value)
    return number if 0.0 <= number <= 1.0 else None


def post_key_of(doc: Mapping[str, Any]) -> str | None:
    """The post key of a stored post document: its ``key``, else ``platform:platform_id``."""
    key = doc.get("key")
    if key:
        return str(key)
    if doc.get("platform") and doc.get("platform_id"):
        return f"{doc['platform']}:{doc['platform_id']}"
    return None


def account_of(doc: Mapping[str, Any]) -> str | None:
    """The account key (``platform:author_id``) of a stored post document."""
    if doc.get("account_key"):
        return str(doc["account_key"])
    author_id = dotted_get(doc, "author.id")
    return f"{doc.get('platform')}:{author_id}" if author_id and doc.get("platform") else None


def note(fig: Figure, text: str) -> None:
    """A footnote under the axes (what was left out, what the colours mean)."""
    fig.text(0.01, 0.005, label(text, 160), fontsize="x-small", color="0.35", ha="left", va="bottom", gid="note")
