"""Read cascades straight from the datasets, without building ``Post`` objects (the fast path).

Each reader yields :class:`CascadeInput` (an id, its events, the root id and the dataset's label, if any):

* ``twitter1516`` (Ma et al., 2017): ``twitter15_tree.tar.gz`` (or a folder of ``<source id>.txt``), lines
  ``['uid', 'tweet id', 'delay min']->['uid', 'tweet id', 'delay min']``.  About 87% of the edges reuse the
  source tweet id (retweets), so a node is the triple ``(uid, tweet id, delay)``; the ``ROOT`` line names
  the root.  Time = delay minutes x 60.  Labels from ``label.txt`` beside the archive.
* ``ced`` (Song et al., 2018): ``CED_Dataset.tar.gz`` read member by member; the source post is the root
  (id from the file name), a repost with an empty ``parent`` hangs from the root.  Repost ``date`` is
  Beijing time (UTC+8); the 74 year-less ``MM月DD日 HH:MM`` dates take the year from the time encoded in
  their 9-character ``mid`` (as :mod:`flockwatch.replay.weibo_ced` does) or else from the source post.
  Labels ``rumor`` / ``non-rumor`` from the folder.
* ``jsonl``: one :class:`~flockwatch.schema.Post` JSON per line; parent = reshare, then quote, then reply;
  the cascade is the post's ``root_id`` when given, else the top of its parent chain within the file (a
  chain that loops is rooted at the loop's earliest post).  Repairs the reader makes before
  :func:`~flockwatch.graph.cascades.build_tree` sees the events (a repeated post, a loop through the root)
  are counted in :attr:`CascadeInput.repairs`; :func:`tree_of` adds them to the tree's own.

Text is read as UTF-8 with invalid bytes replaced (U+FFFD), so a damaged line costs at most that line.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from flockwatch.graph.cascades import Event, Repairs, Tree, build_tree
from flockwatch.replay.weibo_ced import REPOST_FOLDERS, SOURCE_FOLDER, ced_archive, ced_members

_EPOCH = datetime(1970, 1, 1)
_CHINA_OFFSET_S = 8 * 3600


@dataclass
class CascadeInput:
    cascade_id: str
    events: list[Event]
    root_id: str | None
    label: str | None = None
    repairs: Repairs = field(default_factory=Repairs)  # made by the reader, before build_tree saw the events


def tree_of(cascade: CascadeInput) -> Tree:
    """The cascade's tree, counting the reader's repairs with build_tree's."""
    tree = build_tree(cascade.cascade_id, cascade.events, cascade.root_id)
    total, early = tree.repairs, cascade.repairs
    total.duplicates += early.duplicates
    total.missing_parents += early.missing_parents
    total.extra_roots += early.extra_roots
    total.self_loops += early.self_loops
    total.cycles += early.cycles
    total.skewed += early.skewed
    total.placeholder_root = total.placeholder_root or early.placeholder_root
    return tree


# --------------------------------------------------------------------------------------------------------
# Twitter15/16


def _node(text: str) -> tuple[str, str, str]:
    parts = [p.strip().strip("'\"") for p in text.strip().strip("[]").split(",")]
    if len(parts) != 3:
        raise ValueError(f"not a ['uid', 'tweet id', 'delay'] node: {text!r}")
    return parts[0], parts[1], parts[2]


def parse_twitter_tree(cascade_id: str, lines: Iterator[str]) -> CascadeInput:
    """One Twitter15/16 tree file; unreadable lines are skipped."""
    events: list[Event] = []
    root: str | None = None
    for line in lines:
        if "->" not in line:
            continue
        left, right = line.split("->", 1)
        try:
            parent, child = _node(left), _node(right)
            delay = float(child[2])
        except ValueError:
            continue
        child_id = "|".join(child)
        if parent[0] == "ROOT":
            root = child_id
            events.append(Event(child_id, None, delay * 60.0, child[0]))
        else:
            events.append(Event(child_id, "|".join(parent), delay * 60.0, child[0]))
    return CascadeInput(cascade_id, events, root)


def _labels(folder: Path) -> dict[str, str]:
    labels: dict[str, str] = {}
    path = folder / "label.txt"
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if ":" in line:
                label, tid = line.strip().split(":", 1)
                labels[tid.strip()] = label.strip()
    return labels


def read_twitter1516(path: Path) -> Iterator[CascadeInput]:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    labels = _labels(folder)
    if path.is_dir() and not list(path.glob("*.tar.gz")):
        files = sorted(path.glob("*.txt")) if not (path / "tree").is_dir() else sorted((path / "tree").glob("*.txt"))
        for f in files:
            if f.name == "label.txt":
                continue
            c = parse_twitter_tree(f.stem, iter(f.read_text(encoding="utf-8", errors="replace").splitlines()))
            c.label = labels.get(f.stem)
            yield c
        return
    archives = [path] if path.is_file() else sorted(path.glob("*tree*.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"{path}: not a tree archive, nor a folder of <id>.txt trees or a *tree*.tar.gz")
    archive = archives[0]
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".txt"):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            stem = PurePosixPath(member.name).stem
            c = parse_twitter_tree(stem, iter(handle.read().decode("utf-8", "replace").splitlines()))
            c.label = labels.get(stem)
            yield c


# --------------------------------------------------------------------------------------------------------
# Weibo CED

_MONTHS = {"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9,
           "Oct": 10, "Nov": 11, "Dec": 12}  # fmt: skip


def _mid_of(name: str) -> str:
    parts = PurePosixPath(name).stem.split("_")
    return "_".join(parts[1:-1]) if len(parts) >= 3 else PurePosixPath(name).stem


def _source_seconds(value: Any) -> float | None:
    """Source ``time``: unix seconds, or ``Mon May 27 12:07:05 +0800 2013``."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y").timestamp()
        except ValueError:
            return None
    return None


def _mid_seconds(mid: str) -> float | None:
    try:
        from flockwatch.replay.timestamps import weibo_mid_time
    except ImportError:  # pragma: no cover - the replay package is optional here
        return None
    moment = weibo_mid_time(mid)
    return moment.timestamp() if moment is not None else None


def _repost_seconds(value: Any, mid: str, anchor: float | None) -> float | None:
    if not isinstance(value, str):
        return None
    if "月" in value:
        # MM月DD日 HH:MM, year from the mid's own time, else the source post's
        year_from = _mid_seconds(mid) or anchor
        if year_from is None:
            return None
        try:
            month, rest = value.split("月", 1)
            day, clock = rest.split("日", 1)
            hh, mm = clock.strip().split(":")[:2]
            year = (datetime.fromtimestamp(year_from, UTC) + timedelta(hours=8)).year
            naive = datetime(year, int(month), int(day), int(hh), int(mm))
        except ValueError:
            return None
        return (naive - _EPOCH).total_seconds() - _CHINA_OFFSET_S
    try:
        return (datetime.fromisoformat(value.strip()) - _EPOCH).total_seconds() - _CHINA_OFFSET_S
    except ValueError:
        return None


def read_ced(path: Path) -> Iterator[CascadeInput]:
    """CED cascades; a source read before its reposts (the archive's order) gives the root's time."""
    archive = ced_archive(Path(path))
    sources: dict[str, tuple[float | None, str | None]] = {}
    for folder, member, raw in ced_members(archive):
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        mid = _mid_of(member)
        uid = PurePosixPath(member).stem.split("_")[-1]
        if folder == SOURCE_FOLDER:
            sources[mid] = (_source_seconds(data.get("time")) if isinstance(data, dict) else None, uid)
            continue
        if not isinstance(data, list):
            continue
        root_time, root_user = sources.get(mid, (None, uid))
        events = []
        for item in data:
            if not isinstance(item, dict) or not item.get("mid"):
                continue
            rmid = str(item["mid"])
            t = _repost_seconds(item.get("date"), rmid, root_time)
            if t is None:
                continue
            parent = item.get("parent") or mid
            events.append(Event(rmid, str(parent), t, str(item.get("uid") or "") or None))
        if root_time is None:
            root_time = min((e.time for e in events), default=0.0)
        events.append(Event(mid, None, root_time, root_user))
        yield CascadeInput(mid, events, mid, REPOST_FOLDERS[folder])


# --------------------------------------------------------------------------------------------------------
# JSONL of Post


_Node = tuple[str | None, float, str, str | None]  # parent key, time, author id, cascade named by root_id


def read_posts_jsonl(path: Path) -> Iterator[CascadeInput]:
    """Group ``Post`` lines into cascades (see the module docstring); bad lines are skipped.

    A post seen again keeps its earliest copy (the first of equal times), as build_tree does, and the cascade
    it lands in counts it as a duplicate.
    """
    from flockwatch.schema import Post

    nodes: dict[str, _Node] = {}
    copies: dict[str, int] = {}
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                post = Post.model_validate_json(line)
            except ValueError:
                continue
            root = f"{post.platform}:{post.root_id}" if post.root_id else None
            node = (post.parent_key(), post.created_at.timestamp(), post.author.id, root)
            seen = nodes.get(post.key)
            if seen is not None:
                copies[post.key] = copies.get(post.key, 0) + 1
                if node[1] >= seen[1]:
                    continue
            nodes[post.key] = node
    groups: dict[str, list[Event]] = {}
    repairs: dict[str, Repairs] = {}
    top_cache: dict[str, str] = {}
    for key, (parent, t, user, root) in nodes.items():
        cascade = root or _top(key, nodes, top_cache)
        groups.setdefault(cascade, []).append(Event(key, parent, t, user))
        if key in copies:
            repairs.setdefault(cascade, Repairs()).duplicates += copies[key]
    for cascade, events in groups.items():
        fixed = repairs.get(cascade, Repairs())
        # build_tree never reads the root's own parent: a root that reshares itself, or a post of its own
        # cascade (the loop _top cut there), is a repair it cannot see, so it is counted here.
        head = nodes.get(cascade)
        if head is not None and head[0] is not None:
            if head[0] == cascade:
                fixed.self_loops += 1
            elif head[0] in nodes and (nodes[head[0]][3] or _top(head[0], nodes, top_cache)) == cascade:
                fixed.cycles += 1
        yield CascadeInput(cascade, events, cascade, repairs=fixed)


def _top(key: str, nodes: dict[str, _Node], cache: dict[str, str]) -> str:
    """The cascade of a post without ``root_id``: the top of its parent chain (an absent parent included), the
    ``root_id`` of the first post up the chain that names one, or the earliest post of a loop."""
    path = []
    seen = set()
    x = key
    while True:
        if x in cache:
            top = cache[x]
            break
        path.append(x)
        seen.add(x)
        info = nodes.get(x)
        parent = info[0] if info else None
        if info and info[3]:
            top = info[3]
            break
        if parent is None or parent not in nodes or parent in seen:
            top = parent if parent is not None and parent not in nodes else x
            if parent in seen:  # a loop: cut where build_tree cuts one, above its earliest post
                top = min(path[path.index(parent) :], key=lambda k: (nodes[k][1], k))
            break
        x = parent
    for p in path:
        cache[p] = top
    return top
