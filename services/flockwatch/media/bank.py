"""Hash banks: known fakes and fact-checked media, in a directory, matched by perceptual hash.

A bank is a directory with ``bank.jsonl``: one JSON record per banked file (the path as given, its
sha256, kind, label, note, time added and its hashes: windowed/dihedral PDQ for pictures, keyframe PDQ
for video, Haitsma–Kalker fingerprint for audio, see :mod:`flockwatch.media.hashing`,
:mod:`flockwatch.media.video_hash`, :mod:`flockwatch.media.audio_fingerprint`). With ``copy=True`` the
file is also kept under ``files/<sha256>`` so the bank stands alone. ``bank_records`` gives the same
records as plain dicts for the store.

Distances are normalised to 0..1 within a kind: pictures Hamming bits / 256, video 1 - share of matched
keyframes, audio bit error rate; exact sha256 equality is 0 for every kind.

Pictures are matched in two stages. PDQ first, through a multi-index hash table over every banked hash
(:mod:`flockwatch.media.hash_index`: exact up to ``EXACT_UP_TO`` banked hashes; above, exact to 31 bits
and near-certain to the 52-bit threshold) instead of a scan of every item. Only when PDQ finds nothing,
keypoints (:mod:`flockwatch.media.keypoints`: ORB + RANSAC homography, for captions, banners and
stickers covering part of the picture) on the few banked pictures the keypoint index proposes. A keypoint
match's distance is 1 - the share of correspondences that are RANSAC inliers, never below the PDQ
threshold's (52/256), so PDQ matches sort first. Banked pictures keep their keypoints under
``hashes["keypoints"]`` (bounded, base64: see :class:`flockwatch.media.keypoints.Keypoints`); items
banked before that have none and are matched by PDQ alone.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from flockwatch.media import audio_fingerprint as af
from flockwatch.media import decode, hashing
from flockwatch.media import keypoints as kp
from flockwatch.media import video_hash as vh
from flockwatch.media.hash_index import EXACT_UP_TO, FAST_PROBE_BITS, HashIndex
from flockwatch.media.labels import FAKE_LABELS, REAL_LABELS
from flockwatch.media.signal import Finding, MediaFile, Tier
from flockwatch.media.sniff import open_media

log = logging.getLogger(__name__)

BANK_FILE = "bank.jsonl"


@dataclass(frozen=True)
class BankItem:
    item: str
    sha256: str
    kind: str
    label: str
    note: str
    added_at: str
    hashes: dict[str, Any]

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Match:
    item: str
    # 0..1 within a kind (see the module docstring); 0 for the same bytes.
    distance: float
    kind: str
    label: str
    how: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Added:
    """What banking one file did: ``added`` a record, or found its bytes ``already`` banked (``item``, whose
    label stays: a record is never rewritten)."""

    item: BankItem
    status: Literal["added", "already"]


def parse_records(lines: Iterable[str]) -> tuple[list[BankItem], int]:
    """The bank items in ``lines`` and how many non-blank lines were not one (a line cut by an interrupted
    ``bank add``, a hand edit): those are skipped, so one bad line costs itself, not the bank."""
    names = {f.name for f in fields(BankItem)}
    items: list[BankItem] = []
    bad = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not names <= record.keys() or not isinstance(record["hashes"], dict):
                raise ValueError("not a bank record")
            items.append(BankItem(**{k: v for k, v in record.items() if k in names}))
        except ValueError:  # JSONDecodeError included
            bad += 1
    return items, bad


def compute_hashes(media: MediaFile, role: str) -> dict[str, Any]:
    """The kind's hashes of ``media`` as a JSON-able dict (``role`` "bank" stores the many-window side)."""
    if media.kind == "image":
        return picture_hashes(decode.open_image(media.path), role)
    if media.kind == "video":
        return vh.video_hashes(media.path, role).to_dict()
    return af.fingerprint(decode.audio_samples(media.path), decode.AUDIO_RATE).to_dict()


def picture_hashes(image: Image.Image, role: str) -> dict[str, Any]:
    """A picture's hashes; the bank side also keeps its ORB keypoints (the occlusion stage)."""
    out = hashing.image_hashes(image, role).to_dict()
    if role == "bank":
        out["keypoints"] = kp.keypoints(image).to_dict()
    return out


def keypoint_distance(verdict: kp.Verdict) -> float:
    """0..1 for a keypoint match: 1 - inlier share, never below the PDQ threshold's distance."""
    share = verdict.inliers / max(1, verdict.correspondences)
    # Rounded up, so it never drops under the PDQ threshold's distance.
    return math.ceil(max(hashing.MATCH_BITS / hashing.BITS, 1.0 - share) * 10_000) / 10_000


@dataclass
class PictureIndex:
    """The lookup structures over a bank's pictures (``items``, in order), built once per version of its items
    (``source``): the PDQ hash index and the keypoint candidate index, owners being positions in ``items``."""

    items: list[BankItem]
    source: list[BankItem]
    hashes: HashIndex
    keypoints: list[kp.Keypoints | None]
    descriptors: kp.DescriptorIndex

    @staticmethod
    def build(source: list[BankItem]) -> PictureIndex:
        items = [i for i in source if i.kind == "image"]
        words = [hashing.to_words(list(i.hashes.get("hashes", []))) for i in items]
        points = [kp.Keypoints.from_dict(i.hashes["keypoints"]) if "keypoints" in i.hashes else None for i in items]
        return PictureIndex(items, source, HashIndex.from_items(words), points, kp.DescriptorIndex(points))


def distance(kind: str, query: dict[str, Any], banked: dict[str, Any]) -> tuple[float, str, bool]:
    """(0..1 distance, evidence, is a match) between a query's and a banked item's hashes of one kind."""
    if kind == "image":
        bits, how = hashing.image_distance(hashing.ImageHashes.from_dict(query), hashing.ImageHashes.from_dict(banked))
        return round(bits / hashing.BITS, 4), f"{bits} bits, {how}", hashing.is_match(bits)
    if kind == "video":
        d, how = vh.video_distance(vh.VideoHashes.from_dict(query), vh.VideoHashes.from_dict(banked))
        return d, how, vh.is_match(d)
    ber, how = af.audio_distance(af.AudioFingerprint.from_dict(query), af.AudioFingerprint.from_dict(banked))
    return ber, how, af.is_match(ber)


class Bank:
    """A directory bank; records are appended to ``bank.jsonl`` and re-read only when the file changed.

    ``Bank.from_records`` makes a read-only bank of records kept elsewhere (the store's banks).
    """

    def __init__(self, directory: Path | str, *, fixed: list[BankItem] | None = None) -> None:
        self.directory = Path(directory)
        self._fixed = fixed
        self._cache: tuple[tuple[int, int], list[BankItem]] | None = None
        self._pictures: PictureIndex | None = None
        self._shas: tuple[list[BankItem], dict[str, BankItem]] | None = None
        # Lines of ``bank.jsonl`` that were not a record at the last read (skipped, with a warning).
        self.bad_lines = 0

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]], name: str = "store") -> Bank:
        names = {f.name for f in fields(BankItem)}
        return cls(f"<{name}>", fixed=[BankItem(**{k: v for k, v in r.items() if k in names}) for r in records])

    @property
    def path(self) -> Path:
        return self.directory / BANK_FILE

    def items(self) -> list[BankItem]:
        if self._fixed is not None:
            return self._fixed
        if not self.path.exists():
            return []
        stat = self.path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != version:
            with self.path.open(encoding="utf-8", errors="replace") as f:
                items, self.bad_lines = parse_records(f)
            if self.bad_lines:
                log.warning("%s: skipped %d line(s) that are not a bank record", self.path, self.bad_lines)
            self._cache = (version, items)
        return self._cache[1]

    def add(
        self, paths: Iterable[Path | str], label: str = "known_fake", note: str = "", copy: bool = False
    ) -> list[BankItem]:
        """Hash and bank each file; bytes already banked (same sha256, under any path) are not banked again.

        Returns the items for ``paths`` (new or already there), in order.
        """
        return [self.add_file(p, label, note, copy).item for p in paths]

    def add_file(self, path: Path | str, label: str = "known_fake", note: str = "", copy: bool = False) -> Added:
        """Bank one file, or say which banked item already has its bytes (that item keeps its label and note)."""
        if self._fixed is not None:
            raise ValueError("this bank is read-only (records from the store): add to a bank directory")
        media = open_media(Path(path))
        # One record per content: a second path to the same bytes would only duplicate every match.
        if (known := self.by_sha256().get(media.sha256)) is not None:
            return Added(known, "already")
        item = BankItem(
            item=str(path),
            sha256=media.sha256,
            kind=media.kind,
            label=label,
            note=note,
            added_at=datetime.now(UTC).isoformat(timespec="seconds"),
            hashes=compute_hashes(media, "bank"),
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        if copy:
            (self.directory / "files").mkdir(exist_ok=True)
            shutil.copyfile(media.path, self.directory / "files" / media.sha256)
        self._append(item)
        return Added(item, "added")

    def _append(self, item: BankItem) -> None:
        """One line, written whole; a last line cut short (an interrupted add) is ended first, so the new
        record does not run on from it and get lost with it."""
        line = (json.dumps(item.record(), separators=(",", ":")) + "\n").encode("utf-8")
        with self.path.open("a+b") as f:
            end = f.seek(0, 2)
            if end:
                f.seek(end - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)
        # Extend the cache rather than re-read the whole file for the next add, unless someone else wrote too.
        stat = self.path.stat()
        if self._cache is not None and self._cache[0][1] + len(line) == stat.st_size:
            self._cache = ((stat.st_mtime_ns, stat.st_size), [*self._cache[1], item])

    def by_sha256(self) -> dict[str, BankItem]:
        """The first banked item of each content, rebuilt when the items change."""
        source = self.items()
        if self._shas is None or self._shas[0] is not source:
            shas: dict[str, BankItem] = {}
            for i in source:
                shas.setdefault(i.sha256, i)
            self._shas = (source, shas)
        return self._shas[1]

    def picture_index(self) -> PictureIndex:
        """The hash and keypoint indexes over the banked pictures, rebuilt when the items change."""
        source = self.items()
        if self._pictures is None or self._pictures.source is not source:
            self._pictures = PictureIndex.build(source)
        return self._pictures

    def match_picture(self, image: Image.Image, sha256: str = "") -> list[Match]:
        """Banked pictures matching ``image`` (decoded; ``sha256`` of its bytes if known), closest first."""
        index = self.picture_index()
        out = [
            Match(i.item, 0.0, i.kind, i.label, "identical bytes (sha256)", i.sha256)
            for i in index.items
            if sha256 and i.sha256 == sha256
        ]
        if len(out) == len(index.items):
            return out
        query = hashing.image_hashes(image, "query").to_dict()
        probe = None if len(index.hashes) <= EXACT_UP_TO else FAST_PROBE_BITS
        found = index.hashes.search(hashing.to_words(query["hashes"]), hashing.MATCH_BITS, probe)
        for k in sorted(found):
            i = index.items[k]
            if sha256 and i.sha256 == sha256:
                continue
            d, how, ok = distance("image", query, i.hashes)
            if ok:
                out.append(Match(i.item, d, i.kind, i.label, how, i.sha256))
        if not out and any(p is not None for p in index.keypoints):
            out = self._keypoint_matches(index, image)
        return sorted(out, key=lambda m: (m.distance, m.item))

    @staticmethod
    def _keypoint_matches(index: PictureIndex, image: Image.Image) -> list[Match]:
        """The occlusion stage: verify the candidates the keypoint index proposes, upright and mirrored."""
        best: dict[int, tuple[kp.Verdict, str]] = {}
        for q, side in zip(kp.query_keypoints(image), ("", " of the mirror image"), strict=True):
            for k in index.descriptors.candidates(q):
                banked = index.keypoints[k]
                if banked is None or k in best:
                    continue
                v = kp.verify(q, banked)
                if v.matched:
                    best[k] = (v, side)
        out = []
        for k, (v, side) in best.items():
            i = index.items[k]
            out.append(Match(i.item, keypoint_distance(v), i.kind, i.label, v.how() + side, i.sha256))
        return out

    def match(self, media: MediaFile) -> list[Match]:
        """Banked items of the same kind within threshold, closest first; same bytes = distance 0."""
        if media.kind == "image":
            if not any(i.kind == "image" for i in self.items()):
                return []
            return self.match_picture(decode.open_image(media.path), media.sha256)
        items = [i for i in self.items() if i.kind == media.kind]
        if not items:
            return []
        query: dict[str, Any] | None = None
        out: list[Match] = []
        for i in items:
            if i.sha256 == media.sha256:
                out.append(Match(i.item, 0.0, i.kind, i.label, "identical bytes (sha256)", i.sha256))
                continue
            if query is None:
                query = compute_hashes(media, "query")
            d, how, ok = distance(media.kind, query, i.hashes)
            if ok:
                out.append(Match(i.item, d, i.kind, i.label, how, i.sha256))
        return sorted(out, key=lambda m: (m.distance, m.item))


def bank_records(bank: Bank) -> list[dict[str, Any]]:
    """Every banked item as a plain JSON-able dict (the store keeps the same records for the pipeline)."""
    return [i.record() for i in bank.items()]


def match_line(bank: Bank, path: Path | str) -> dict[str, Any]:
    """One output line of ``flockwatch match``: ``{"path", "matches": [{"item", "distance", ...}]}``."""
    return {"path": str(path), "matches": [m.to_dict() for m in bank.match(open_media(Path(path)))]}


class BankMatchSignal:
    """MediaSignal: a match to a banked known fake is near-certain evidence; to banked real media, the opposite."""

    name = "bank_match"
    tier = Tier.match

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind in ("image", "video", "audio")

    def compute(self, media: MediaFile) -> Finding | None:
        matches = self.bank.match(media)
        if not matches:
            return None
        fakes = [m for m in matches if m.label in FAKE_LABELS]
        best = fakes[0] if fakes else matches[0]
        if best.label in FAKE_LABELS:
            score = 0.95
            verdict = "matches a banked known fake"
        elif best.label in REAL_LABELS:
            score = 0.05
            verdict = "matches banked authentic media"
        else:
            score = 0.5
            verdict = f"matches a banked item labelled {best.label!r}"
        detail = f"{verdict}: {best.item} (distance {best.distance:.3f}; {best.how})"
        return Finding.scored(self.name, score, detail, self.tier, {"matches": [m.to_dict() for m in matches]})
