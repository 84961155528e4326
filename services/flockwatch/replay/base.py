"""What a replayable dataset format is: a reader, a normaliser and a way to recognise its files.

Replay is two steps so live connectors and recorded datasets share one normaliser: a *reader*
turns files into :class:`~flockwatch.schema.RawRecord` (one per source record, with anything
from outside the record that the normaliser needs in ``context``), and a *normaliser* turns one
``RawRecord`` into a :class:`~flockwatch.schema.Post` (``None`` for records that are not posts,
``ValueError`` for malformed ones). Readers run once per replay; normalisers run in the
normalize stage on whatever the broker delivers, so they must rely on the record alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from flockwatch.config import get_settings
from flockwatch.replay.text_entities import EntityStyle, extract_entities
from flockwatch.schema import Post, RawRecord, SourceRef


class Reader(Protocol):
    def __call__(self, path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]: ...


# The key in ``RawRecord.context`` a live connector sets to when it saw the record (ISO 8601); the post's
# ``collected_at``, i.e. the time of its engagement snapshot.
COLLECTED_AT = "collected_at"

Normalizer = Callable[[RawRecord], Post | None]
Sniffer = Callable[[Path], bool]


@dataclass(frozen=True)
class DatasetFormat:
    """One dataset (or connector) format.

    ``default_path`` is relative to ``Settings().data_dir``; ``None`` for formats with no
    dataset of their own in the data dir (for example ``cnt_csv``, which users bring).
    """

    name: str
    platform: str
    default_path: str | None
    description: str
    reader: Reader
    normalizer: Normalizer
    sniffer: Sniffer

    @classmethod
    def of(cls, module: ModuleType) -> DatasetFormat:
        """The format a format module defines: its ``NAME``, ``PLATFORM``, ``DEFAULT_PATH`` and ``DESCRIPTION``,
        and its ``read``, ``normalize`` and ``sniff`` functions."""
        return cls(
            name=module.NAME,
            platform=module.PLATFORM,
            default_path=module.DEFAULT_PATH,
            description=module.DESCRIPTION,
            reader=module.read,
            normalizer=module.normalize,
            sniffer=module.sniff,
        )

    def read(self, path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
        """Stream ``RawRecord``s from ``path``; URIs are made relative to ``data_dir``."""
        return self.reader(path, data_dir)

    def normalize(self, raw: RawRecord) -> Post | None:
        return self.normalizer(raw)

    def sniff(self, path: Path) -> bool:
        """Whether ``path`` looks like this format (cheap: names and the first bytes only)."""
        try:
            return self.sniffer(path)
        # Broad on purpose: a file a sniffer cannot even parse (bad gzip, bad tar, binary
        # garbage) is simply not of that format, whatever exception its parser picked.
        except Exception:
            return False


def relative_uri(path: Path, data_dir: Path | None) -> str:
    """``path`` relative to the data dir when it lies inside it, else as given (POSIX form).

    Relative URIs keep ``SourceRef`` stable across machines that mount the data elsewhere.
    """
    base = data_dir if data_dir is not None else get_settings().data_dir
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def source_ref(raw: RawRecord) -> SourceRef:
    """Where the post came from, carried over from its raw record."""
    return SourceRef(format=raw.format, uri=raw.source_uri, position=raw.position)


def text_post(
    raw: RawRecord,
    platform: str,
    text: str,
    style: EntityStyle = "twitter",
    urls: list[str] | None = None,
    **fields: Any,
) -> Post:
    """The post a raw record holds, for formats whose links live in the text: its urls (unless a column gives
    them), hashtags and mentions are the ones ``text`` carries, its source the record."""
    entities = extract_entities(text, style)
    return Post(
        platform=platform,
        text=text,
        urls=entities.urls if urls is None else urls,
        hashtags=entities.hashtags,
        mentions=entities.mentions,
        source=source_ref(raw),
        **fields,
    )
