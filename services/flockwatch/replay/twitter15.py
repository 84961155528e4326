"""``twitter15``: Ma et al.'s 1,490 Twitter propagation trees, with source text and veracity labels.

Files (``spread/twitter15/``): ``twitter15_tree.tar.gz`` holds ``tree/<source id>.txt``, one edge
a line, ``['uid', 'tweet id', 'delay min']->['uid', 'tweet id', 'delay min']``, one of them from
``['ROOT', 'ROOT', '0.0']`` (not always the first line); ``source_tweets.txt`` (``id<TAB>text``) and ``label.txt``
(``label:id``). Only the source tweets' text was released. The same files for Twitter16 read the
same way (``twitter16_tree.tar.gz``).

Decisions, and why:

- **One record per tree node** (599,196), keyed by ``(uid, tweet id, delay)`` as the data README
  says: ~91% of nodes reuse another node's tweet id (retweets carry the id of what they
  retweet). Repeated edge lines (~12k) and self-loops (1,218) add no nodes; the 5,729 nodes
  with several parents keep the first in file order, the others (11,881 edges) are counted in
  the payload (``extra_parents``). Nodes are emitted in delay order, so a replay paces like
  the cascade.
- **Ids.** A node owns its tweet id when it is the tree's root (the ``ROOT`` child), or when it
  is the earliest node carrying an id other than the source's (in Twitter15 every such id
  belongs to exactly one node). Every other node is a retweet with no id of its own and gets
  ``rt_<tweet id>_<uid>_<delay>``, unique and stable, and never a valid numeric tweet id. The
  reader, which sees the whole tree, passes ownership in ``context``.
- **Edges.** A retweet node gets ``reshare_of`` = its tree parent (the path the cascade took, as
  Weibo's and Bluesky's ``via`` do); a node with its own id gets ``reply_to`` = its parent (the
  data does not say whether it is a reply, a quote or a retweet crawled under its own id).
  Every node gets ``root_id`` = the root node's id. Tweets that appear in two trees (938
  nodes: same id, author and time) are one post; the tree read last sets its edges.
- **Time.** There are no absolute times, but a Twitter snowflake id encodes its creation time,
  so ``created_at`` = the source tweet's snowflake time + the node's delay. Checked against the
  53,081 non-root nodes with their own ids: their snowflake times agree to within ±1.32 s. For
  pre-snowflake ids (none in Twitter15) the anchor falls back to the synthetic
  :data:`SYNTHETIC_ANCHOR`, 2015-01-01T00:00Z.
- **Odd trees.** In 8 trees the ``ROOT`` child is an earlier tweet by the same account, not the
  file's source tweet (negative delays); there the source's retweets hang under that earlier
  tweet as the file says, and the source text, which belongs to no node, is not attached.
"""

from __future__ import annotations

import ast
import re
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flockwatch.replay.base import relative_uri, text_post
from flockwatch.replay.payload import reject_unreadable, req_str, text_field, unreadable
from flockwatch.replay.timestamps import plus_minutes, snowflake_time
from flockwatch.schema import Author, Post, RawRecord

NAME = "twitter15"
DESCRIPTION = "Twitter15 propagation trees (Ma et al. 2017) with source text and labels"
PLATFORM = "twitter"
DEFAULT_PATH = "spread/twitter15"
# Used only when a source id predates snowflake ids and so carries no time.
SYNTHETIC_ANCHOR = datetime(2015, 1, 1, tzinfo=UTC)
RETWEET_ID_PREFIX = "rt_"

Node = tuple[str, str, str]  # (uid, tweet id, delay in minutes) exactly as written
_EDGE_RE = re.compile(r"^\s*(\[.*?\])\s*->\s*(\[.*?\])\s*$")
_NODE_RE = re.compile(r"^\['([^']*)', '([^']*)', '([^']*)'\]$")
_ROOT = "ROOT"


def _parse_node(text: str) -> Node:
    match = _NODE_RE.match(text)
    if match is not None:
        uid, tid, delay = match.groups()
        return uid, tid, delay
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"not a tree node: {text[:80]!r}") from None
    if not (isinstance(value, list | tuple) and len(value) == 3):
        raise ValueError(f"not a tree node: {text[:80]!r}")
    return str(value[0]), str(value[1]), str(value[2])


def parse_edge(line: str) -> tuple[Node, Node]:
    """``['u', 't', 'd']->['u', 't', 'd']`` → (parent, child)."""
    match = _EDGE_RE.match(line)
    if match is None:
        raise ValueError(f"not a tree edge: {line[:80]!r}")
    return _parse_node(match.group(1)), _parse_node(match.group(2))


def anchor_time(source_id: str) -> datetime:
    """Time zero of a tree: the source tweet's snowflake time (else the synthetic anchor)."""
    return snowflake_time(source_id) or SYNTHETIC_ANCHOR


def owns_by_default(node: Node, source_id: str, root: Node | None) -> bool:
    """Ownership without the tree: the root owns its id, nobody else owns the source's or root's."""
    return node == root or (node[1] != source_id and (root is None or node[1] != root[1]))


def node_id(node: Node, owns_tweet_id: bool) -> str:
    """The platform id of a node (see module docstring, *Ids*)."""
    uid, tid, delay = node
    return tid if owns_tweet_id else f"{RETWEET_ID_PREFIX}{tid}_{uid}_{delay}"


def tweet_id_owners(nodes: list[Node], source_id: str, root: Node | None) -> set[Node]:
    """Which nodes own their tweet id: the root, and the first node (``nodes`` in delay order)
    carrying each id other than the source's. Later nodes with that id are its retweets."""
    owner: dict[str, Node] = {}
    if root is not None:
        owner[root[1]] = root
    for node in nodes:
        if node[1] != source_id:
            owner.setdefault(node[1], node)
    return set(owner.values())


def _read_side_files(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    texts: dict[str, str] = {}
    labels: dict[str, str] = {}
    source_file = folder / "source_tweets.txt"
    if source_file.is_file():
        for line in source_file.read_text(encoding="utf-8").splitlines():
            tid, sep, text = line.partition("\t")
            if sep:
                texts[tid.strip()] = text
    label_file = folder / "label.txt"
    if label_file.is_file():
        for line in label_file.read_text(encoding="utf-8").splitlines():
            label, sep, tid = line.rpartition(":")
            if sep:
                labels[tid.strip()] = label.strip()
    return texts, labels


def _tree_archive(path: Path) -> Path:
    if path.is_dir():
        candidates = sorted(path.glob("twitter1*_tree.tar.gz")) or sorted(path.glob("*tree*.tar.gz"))
        if not candidates:
            raise FileNotFoundError(f"no twitter1x_tree.tar.gz in {path}")
        return candidates[0]
    return path


def tree_records(
    lines: list[str], source_id: str, *, uri: str, member: str, text: str | None, label: str | None
) -> Iterator[RawRecord]:
    """The records of one tree file: its distinct nodes, each with its first parent."""
    edges: list[tuple[int, Node, Node]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            up, down = parse_edge(line)
        except ValueError as exc:
            # Passed on to be dead-lettered with its reason; the rest of the tree still reads.
            yield RawRecord(
                format=NAME, source_uri=uri, position=f"{member}:{number}", payload=unreadable(str(exc), line)
            )
            continue
        edges.append((number, up, down))
    # The ROOT edge is not always the first line (17 Twitter15 trees), so find it first.
    root = next((down for _, up, down in edges if up[0] == _ROOT), None)
    first_line: dict[Node, int] = {}
    parent: dict[Node, Node | None] = {}
    extra_parents: dict[Node, int] = {}
    for number, up, down in edges:
        if up[0] != _ROOT:
            first_line.setdefault(up, number)
            parent.setdefault(up, None)
        first_line.setdefault(down, number)
        parent.setdefault(down, None)
        if up[0] == _ROOT or up == down or down == root:
            continue
        if parent[down] is None:
            parent[down] = up
        elif parent[down] != up:
            extra_parents[down] = extra_parents.get(down, 0) + 1

    anchor = anchor_time(source_id)
    root_list = list(root) if root is not None else None

    def order(node: Node) -> tuple[float, int]:
        try:
            return float(node[2]), first_line[node]
        except ValueError:
            return float("inf"), first_line[node]

    nodes = sorted(parent, key=order)
    owners = tweet_id_owners(nodes, source_id, root)
    for node in nodes:
        first_parent = parent[node]
        payload: dict[str, Any] = {
            "uid": node[0],
            "tweet_id": node[1],
            "delay_min": node[2],
            "parent": list(first_parent) if first_parent is not None else None,
        }
        if node in extra_parents:
            payload["extra_parents"] = extra_parents[node]
        context: dict[str, Any] = {
            "source_tweet_id": source_id,
            "root": root_list,
            "label": label,
            "owns_tweet_id": node in owners,
            "parent_owns_tweet_id": first_parent in owners if first_parent is not None else None,
        }
        if text is not None and node == root and node[1] == source_id:
            context["source_text"] = text
        try:
            event_time: datetime | None = plus_minutes(anchor, node[2])
        except ValueError:
            event_time = None
        yield RawRecord(
            format=NAME,
            source_uri=uri,
            position=f"{member}:{first_line[node]}",
            event_time=event_time,
            payload=payload,
            context=context,
        )


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """Stream the trees straight from the archive (no extraction), one tree in memory at a time."""
    archive = _tree_archive(path)
    texts, labels = _read_side_files(archive.parent)
    uri = relative_uri(archive, data_dir)
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".txt"):
                continue
            source_id = Path(member.name).stem
            handle = tar.extractfile(member)
            if handle is None:
                continue
            lines: list[str] = []
            for number, raw_line in enumerate(handle.read().splitlines(), start=1):
                try:
                    lines.append(raw_line.decode("utf-8"))
                except UnicodeDecodeError as exc:  # passed on with its bytes, never replaced; the tree reads on
                    reason = f"line {number} is not valid UTF-8 ({exc.reason} at byte {exc.start})"
                    payload = unreadable(reason, raw_line)
                    yield RawRecord(format=NAME, source_uri=uri, position=f"{member.name}:{number}", payload=payload)
                    lines.append("")  # skipped by tree_records, so later lines keep their numbers
            yield from tree_records(
                lines,
                source_id,
                uri=uri,
                member=member.name,
                text=texts.get(source_id),
                label=labels.get(source_id),
            )


def _node(value: object, what: str) -> Node:
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) and v for v in value)):
        raise ValueError(f"{what} must be a [uid, tweet id, delay] list of strings, got {value!r:.80}")
    return value[0], value[1], value[2]


def _flag(context: dict[str, Any], key: str, default: bool) -> bool:
    """A reader-computed boolean; records from elsewhere without it fall back to ``default``."""
    value = context.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"context field {key!r} must be a boolean, got {value!r:.40}")
    return value


def normalize(raw: RawRecord) -> Post:
    p, ctx = raw.payload, raw.context
    reject_unreadable(p)
    node: Node = (req_str(p, "uid"), req_str(p, "tweet_id"), req_str(p, "delay_min"))
    source_id = req_str(ctx, "source_tweet_id")
    root = _node(ctx["root"], "context.root") if ctx.get("root") is not None else None
    up = _node(p["parent"], "parent") if p.get("parent") is not None else None

    owns = _flag(ctx, "owns_tweet_id", owns_by_default(node, source_id, root))
    own_id = node_id(node, owns)
    is_retweet = not owns
    parent_id = None
    if up is not None and up[0] != _ROOT:
        parent_id = node_id(up, _flag(ctx, "parent_owns_tweet_id", owns_by_default(up, source_id, root)))
    reshare_of = reply_to = None
    if parent_id is not None:
        if is_retweet:
            reshare_of = parent_id
        else:
            reply_to = parent_id
    elif is_retweet and node != root:
        reshare_of = node[1]  # a parentless retweet still retweets the tweet whose id it carries
    root_id = root[1] if root is not None else source_id

    text = text_field(ctx, "source_text", required=False)  # only the source tweet's text is known
    return text_post(
        raw,
        PLATFORM,
        text,
        platform_id=own_id,
        author=Author(id=node[0]),
        created_at=plus_minutes(anchor_time(source_id), node[2], what="delay_min"),
        reshare_of=reshare_of,
        reply_to=reply_to,
        root_id=root_id,
    )


def sniff(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("twitter1*_tree.tar.gz"))
    return re.fullmatch(r"twitter1\d_tree\.tar\.gz", path.name) is not None
