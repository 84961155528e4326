"""The replay importer: recorded datasets → ``RawRecord``s → ``Post``s, by format name.

Each format module (``ira_2016``, ``twitter15``, ...) provides its ``NAME``, ``PLATFORM``, ``DEFAULT_PATH``,
``DESCRIPTION``, a reader, a normaliser and a sniffer (see
:mod:`flockwatch.replay.base`). This package is the registry and the public API:
:func:`read_dataset` for the replayer, :func:`normalize_record` for the normalize stage (it
dispatches on ``RawRecord.format``), :func:`detect_format` for files of unknown kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flockwatch.replay import (
    bluesky_appview,
    bluesky_jetstream,
    cnt_csv,
    ira_2016,
    mastodon,
    pheme,
    reddit,
    rss,
    rumoureval2017,
    twitter15,
    weibo_ced,
    ytdlp,
)
from flockwatch.replay.base import COLLECTED_AT, DatasetFormat
from flockwatch.replay.timestamps import from_iso
from flockwatch.schema import Post, RawRecord

__all__ = [
    "FORMATS",
    "DatasetFormat",
    "OutsideDataDirError",
    "UnknownFormatError",
    "confine_path",
    "detect_format",
    "get_format",
    "normalize_record",
    "read_dataset",
]


class UnknownFormatError(ValueError):
    """A format name nobody registered, or a file no format recognises."""


FORMATS: dict[str, DatasetFormat] = {
    fmt.name: fmt
    for fmt in map(
        DatasetFormat.of,
        (
            ira_2016,
            twitter15,
            weibo_ced,
            pheme,
            rumoureval2017,
            bluesky_jetstream,
            bluesky_appview,
            cnt_csv,
            reddit,
            mastodon,
            rss,
            ytdlp,
        ),
    )
}


def _known() -> str:
    return ", ".join(sorted(FORMATS))


def get_format(name: str) -> DatasetFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormatError(f"unknown dataset format {name!r}; known formats: {_known()}") from None


def detect_format(path: Path) -> DatasetFormat:
    """The one format whose sniffer accepts ``path`` (by file name, header or first record)."""
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    matches = [fmt for fmt in FORMATS.values() if fmt.sniff(path)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UnknownFormatError(
            f"cannot tell the dataset format of {path}: no known format ({_known()}) recognises it; "
            "name the format explicitly"
        )
    names = ", ".join(fmt.name for fmt in matches)
    raise UnknownFormatError(f"{path} looks like several formats ({names}); name the format explicitly")


def resolve_path(fmt: DatasetFormat, path: Path | None, data_dir: Path) -> Path:
    """Where to read ``fmt`` from: ``path`` as given (a relative one may also be under the data dir)."""
    if path is None:
        if fmt.default_path is None:
            raise FileNotFoundError(f"format {fmt.name!r} has no default dataset; pass a path")
        path = data_dir / fmt.default_path
    elif not path.is_absolute() and not path.exists() and (data_dir / path).exists():
        path = data_dir / path
    if not path.exists():
        raise FileNotFoundError(f"{fmt.name}: no such file or folder: {path}")
    return path


class OutsideDataDirError(PermissionError):
    """A path that names something outside the data directory (after following symlinks)."""


def confine_path(path: str | Path, data_dir: Path) -> Path:
    """``path`` (relative to ``data_dir``, or absolute) resolved, if it lies inside ``data_dir``.

    For callers whose path comes from someone who may only replay the data directory (an
    Airflow run's parameters), not from a local user: symlinks and ``..`` are resolved first,
    so neither leads out.
    """
    base = data_dir.resolve()
    target = (data_dir / path).resolve()  # an absolute ``path`` replaces ``data_dir``
    if not target.is_relative_to(base):
        raise OutsideDataDirError(f"{path} is outside the data directory {base}; only files under it can be replayed")
    if not target.exists():
        raise FileNotFoundError(f"no such file or folder in the data directory: {path}")
    return target


def read_dataset(name: str, path: Path | None, data_dir: Path) -> Iterator[RawRecord]:
    """Stream the records of dataset ``name`` from ``path`` (default: its file under ``data_dir``).

    Errors about the name or the path are raised here, before the first record is requested.
    """
    fmt = get_format(name)
    resolved = resolve_path(fmt, path, data_dir)
    return fmt.read(resolved, data_dir)


def normalize_record(raw: RawRecord) -> Post | None:
    """``raw`` as a ``Post``; ``None`` when it is legitimately not a post; ``ValueError`` when malformed."""
    fmt = FORMATS.get(raw.format)
    if fmt is None:
        raise UnknownFormatError(f"unknown record format {raw.format!r}; known formats: {_known()}")
    post = fmt.normalize(raw)
    seen = raw.context.get(COLLECTED_AT)
    if post is not None and isinstance(seen, str) and seen:
        post.collected_at = from_iso(seen, what=COLLECTED_AT)
    return post
