"""Read the coordination-network-toolkit CSV into columns, with the toolkit's exact semantics.

Columns (toolkit 1.5.2, ``preprocess_csv_files``): ``message_id, user_id, username, repost_id, reply_id,
message, timestamp, urls``.  What the toolkit does, and so what we do:

* the first row is a header and is skipped; columns are taken by position;
* the file is read as UTF-8 text with universal newlines (``\\r\\n`` inside quoted fields becomes ``\\n``);
* ``repost_id`` and ``reply_id``: an empty string means none;
* ``timestamp`` is ``float(...)`` seconds (any origin);
* a repeated ``message_id`` keeps its first row (``insert or ignore``) for every network but co_link;
* ``urls`` is ``split(" ")`` of the last column, so an empty cell is one empty URL and a double space adds
  one: the toolkit stores those, and its co_link network links every pair of non-repost posts with no URL
  that fall within the window.  :attr:`Table.link_url` keeps them as ``""``; the CLI drops them unless
  ``--toolkit-compat`` asks for the toolkit's exact network;
* URLs of reposts are ignored; the URL rows of a repeated ``message_id`` are still added (their own user
  and time) unless that ``(message_id, url)`` was already seen (the toolkit's ``message_url`` key).

Where the toolkit crashes on bad input we skip the row and say why in :attr:`Table.skipped`: a row with
another number of fields than the header, or a timestamp that is not a finite number.  Optional extra
columns after ``urls``, named in the header, carry our own kinds: ``media`` (space-separated media hashes,
for co_media).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TOOLKIT_COLUMNS = ("message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls")
EXTRA_COLUMNS = ("media",)


@dataclass
class Table:
    """Posts as columns; users are small integers (``users[i]`` is the id)."""

    message_id: list[str] = field(default_factory=list)
    user: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    repost_id: list[str | None] = field(default_factory=list)
    reply_id: list[str | None] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    media: list[list[str]] = field(default_factory=list)
    # The toolkit's `message_url` rows, as columns: post index, user, time and URL of each.
    link_post: list[int] = field(default_factory=list)
    link_user: list[int] = field(default_factory=list)
    link_time: list[float] = field(default_factory=list)
    link_url: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    # The toolkit labels a node with max(username) over its rows.
    usernames: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    has_media_column: bool = False
    # Derived columns shared by several kinds (normalised texts...), filled on first use.
    cache: dict[str, object] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.message_id)


class TableBuilder:
    """Accumulates rows one at a time (the CSV reader and the benchmark's converter share it)."""

    def __init__(self) -> None:
        self.table = Table()
        self._user_index: dict[str, int] = {}
        self._message_index: dict[str, int] = {}
        self._seen_links: set[tuple[str, str]] = set()

    def _user(self, user_id: str) -> int:
        index = self._user_index.get(user_id)
        if index is None:
            index = len(self.table.users)
            self._user_index[user_id] = index
            self.table.users.append(user_id)
        return index

    def add(
        self,
        message_id: str,
        user_id: str,
        username: str,
        repost_id: str,
        reply_id: str,
        message: str,
        timestamp: float,
        urls: Iterable[str],
        media: Iterable[str] = (),
    ) -> None:
        t = self.table
        user = self._user(user_id)
        previous = t.usernames.get(user_id)
        if previous is None or username > previous:
            t.usernames[user_id] = username
        index = self._message_index.get(message_id)
        if index is None:
            index = len(t.message_id)
            self._message_index[message_id] = index
            t.message_id.append(message_id)
            t.user.append(user)
            t.time.append(timestamp)
            t.repost_id.append(repost_id or None)
            t.reply_id.append(reply_id or None)
            t.message.append(message)
            t.media.append([m for m in media if m])
        if not repost_id:
            for url in urls:
                if (message_id, url) not in self._seen_links:
                    self._seen_links.add((message_id, url))
                    t.link_post.append(index)
                    t.link_user.append(user)
                    t.link_time.append(timestamp)
                    t.link_url.append(url)


def _rows(path: Path) -> Iterator[list[str]]:
    # Same opening as the toolkit: universal newlines, UTF-8, default csv dialect.
    with path.open("r", encoding="utf-8") as handle:
        yield from csv.reader(handle)


def _validate(body: list[list[str]], width: int, table: Table, first_line: int) -> tuple[list[list[str]], list[float]]:
    """Rows with the header's width and a finite float timestamp; the others go to ``table.skipped``."""
    if set(map(len, body)) <= {width}:
        try:
            times = list(map(float, (row[6] for row in body)))
            if all(map(math.isfinite, times)):
                return body, times
        except ValueError:
            pass
    good: list[list[str]] = []
    times = []
    for line, row in enumerate(body, start=first_line):
        if len(row) != width:
            table.skipped.append((line, f"{len(row)} fields, expected {width}"))
            continue
        try:
            ts = float(row[6])
        except ValueError:
            table.skipped.append((line, f"timestamp {row[6][:40]!r} is not a number"))
            continue
        if not math.isfinite(ts):
            table.skipped.append((line, f"timestamp {row[6][:40]!r} is not finite"))
            continue
        good.append(row)
        times.append(ts)
    return good, times


CHUNK_ROWS = 200_000


def read_toolkit_csv(path: Path | str) -> Table:
    """Parse a toolkit CSV file; see the module docstring for the rules.

    Column-wise, in chunks of rows: each chunk is parsed by the C ``csv`` reader and transposed, so the
    per-row Python work is a few comprehensions and no more than one chunk of row lists is alive at once
    (10M rows fit in memory); repeated ids and bad rows take slower exact paths.
    """
    rows = _rows(Path(path))
    header = next(rows, None)
    table = Table()
    if header is None:
        return table
    width = max(len(header), len(TOOLKIT_COLUMNS))
    names = [h.strip().lower() for h in header]
    media_col = names.index("media") if "media" in names[len(TOOLKIT_COLUMNS) :] else None
    table.has_media_column = media_col is not None
    n_cols = len(TOOLKIT_COLUMNS) + (1 if media_col is not None else 0)
    cols: list[list[str]] = [[] for _ in range(n_cols)]
    times: list[float] = []
    # one string object per distinct value of the repetitive columns (user, name, parent ids, text, URLs):
    # repeated texts (retweets, copies) then cost a pointer each, not a copy
    canon: list[dict[str, str]] = [{} for _ in range(n_cols)]
    shared = (1, 2, 3, 4, 5, 7)
    line = 2
    while True:
        body = list(itertools.islice(rows, CHUNK_ROWS))
        if not body:
            break
        good, chunk_times = _validate(body, width, table, line)
        line += len(body)
        if good:
            picked = list(zip(*good, strict=True))
            for k in range(len(TOOLKIT_COLUMNS)):
                if k in shared:
                    cols[k].extend(map(canon[k].setdefault, picked[k], picked[k]))
                else:
                    cols[k].extend(picked[k])
            if media_col is not None:
                cols[-1].extend(picked[media_col])
            times.extend(chunk_times)
        del body, good
    if not times:
        return table
    _fill(table, cols, times, media_col is not None)
    return table


def _fill(table: Table, cols: list[list[str]], times: list[float], has_media: bool) -> None:
    ids, user_ids = cols[0], cols[1]
    user_index = {u: i for i, u in enumerate(dict.fromkeys(user_ids))}
    table.users = list(user_index)
    user_codes = list(map(user_index.__getitem__, user_ids))
    pairs = dict.fromkeys(zip(user_ids, cols[2], strict=True))
    if len(pairs) == len(user_index):
        table.usernames = dict(pairs.keys())
    else:
        for uid, name in pairs:
            if uid not in table.usernames or name > table.usernames[uid]:
                table.usernames[uid] = name
    reposts = cols[3]
    url_cells = cols[len(TOOLKIT_COLUMNS) - 1]
    unique_ids = len(set(ids)) == len(ids)
    post_of_row: list[int]
    if unique_ids:
        post_of_row = list(range(len(ids)))
        keep: list[int] | range = range(len(ids))
    else:
        first_row: dict[str, int] = {}
        for i, mid in enumerate(ids):
            first_row.setdefault(mid, i)
        keep = sorted(first_row.values())
        position = {r: p for p, r in enumerate(keep)}
        post_of_row = [position[first_row[mid]] for mid in ids]

    def pick(col: list[str]) -> list[str]:
        return col if unique_ids else [col[r] for r in keep]

    table.message_id = pick(ids)
    table.user = user_codes if unique_ids else [user_codes[r] for r in keep]
    table.time = times if unique_ids else [times[r] for r in keep]
    table.repost_id = [x or None for x in pick(reposts)]
    table.reply_id = [x or None for x in pick(cols[4])]
    table.message = pick(cols[5])
    if has_media:
        table.media = [[m for m in cell.split(" ") if m] for cell in pick(cols[-1])]
    else:
        table.media = [[] for _ in keep]
    # message_url rows: every row that is not a repost, each distinct (message_id, url) once.
    if unique_ids:
        _fill_links_unique(table, reposts, url_cells, user_codes, times)
        return
    seen: set[tuple[str, str]] = set()
    for r, cell in enumerate(url_cells):
        if reposts[r]:
            continue
        urls = [u for u in dict.fromkeys(cell.split(" ")) if (ids[r], u) not in seen]
        seen.update((ids[r], u) for u in urls)
        post, user, ts = post_of_row[r], user_codes[r], times[r]
        for url in urls:
            table.link_post.append(post)
            table.link_user.append(user)
            table.link_time.append(ts)
            table.link_url.append(url)


def _fill_links_unique(
    table: Table, reposts: list[str], url_cells: list[str], user_codes: list[int], times: list[float]
) -> None:
    """The message_url rows when every message_id is distinct (post ``r`` is row ``r``), column-wise."""
    rows = [r for r, repost in enumerate(reposts) if not repost]
    # a URL repeated in one cell counts once (the toolkit's (message_id, url) key)
    url_lists = [
        urls if len(urls) == 1 else list(dict.fromkeys(urls)) for urls in (url_cells[r].split(" ") for r in rows)
    ]
    link_rows = np.repeat(np.asarray(rows, dtype=np.int64), np.fromiter(map(len, url_lists), np.int64, len(rows)))
    table.link_post = link_rows.tolist()
    table.link_user = np.asarray(user_codes, dtype=np.int64)[link_rows].tolist()
    table.link_time = np.asarray(times, dtype=np.float64)[link_rows].tolist()
    table.link_url = list(itertools.chain.from_iterable(url_lists))
