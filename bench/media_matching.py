"""Known-media matching: recall on edited copies, false matches among unrelated media, hashing speed.

    .venv/bin/python -m bench.media_matching [--runs 3]

- images/pdq_variants: every edit (dihedral, blur, sharpen, contrast, saturation, shrink, squash)
  against its original;
- edited copies of every cnndetection + c2pa_examples picture, one row per edit type: recall against
  its own original, false matches against every other banked picture;
- the best distance between every ordered pair of unrelated pictures (the threshold's other side);
- plain PDQ (whole picture, no windows, no dihedral, PDQ's usual 31-bit threshold) side by side;
- video/tmk_variants: the pairwise match matrix; audio/voice_clone: re-encoded/trimmed/louder copies
  against their originals and the unrelated clips;
- hashing speed (bank and query side), median of ``--runs``.

Thresholds are judged on data that chose nothing: every picture, clip and video lands on the *choose* or the
*report* split by the sha256 of its file name (:func:`split_of`). On the choose split the threshold is the
closest unrelated pair minus a margin (:func:`choose_threshold`: the rule the shipped constants state); on
the report split recall per edit and false matches are measured at the shipped threshold and at the chosen
one. The shipped constant is only worth changing when the chosen one is better there (higher recall, no more
false matches); the section says which.

Writes the "Media matching" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from bench.report import write_section
from flockwatch.config import Settings
from flockwatch.media import audio_fingerprint as af
from flockwatch.media import hashing
from flockwatch.media import video_hash as vh
from flockwatch.media.decode import audio_samples, open_image

COMMAND = ".venv/bin/python -m bench.media_matching"
PDQ_STANDARD_BITS = 31  # Meta's recommended PDQ match threshold, for the baseline.
SPEED_SAMPLE = 40  # pictures timed for hashing speed


def media_dir() -> Path:
    return Settings().data_dir / "media"


def unrelated_images() -> list[Path]:
    base = media_dir() / "images"
    paths = sorted((base / "cnndetection").glob("*.jp*g")) + sorted(
        p for p in (base / "c2pa_examples").iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    # crater-lake-cr.jpg is crater-lake.jpeg with Content Credentials: the same picture, not unrelated.
    return [p for p in paths if p.name != "crater-lake-cr.jpg"]


# cnndetection's seeingdark "fake" is the low-light-enhanced rendering of the same raw shot as a "real":
# the same photograph (checked by eye), so these pairs are related, not unrelated.
SAME_PICTURE = {
    frozenset({"12_seeingdark_real.jpg", "355_seeingdark_fake.jpg"}),
    frozenset({"149_seeingdark_real.jpg", "319_seeingdark_fake.jpg"}),
    frozenset({"155_seeingdark_real.jpg", "351_seeingdark_fake.jpg"}),
    frozenset({"37_seeingdark_real.jpg", "324_seeingdark_fake.jpg"}),
}


def content(im: Image.Image) -> Image.Image:
    """The picture without its uniform padding (cnndetection pads 256 px shots to 356) and the 2% of JPEG
    ringing along the padding's edge: edits then cut into the scene itself, not into the border."""
    core = Image.fromarray(hashing.trim_bars(np.asarray(im.convert("RGB"))))
    if core.size == im.size:
        return im
    dx, dy = round(0.02 * core.width), round(0.02 * core.height)
    return core.crop((dx, dy, core.width - dx, core.height - dy))


def _pad(im: Image.Image, i: int) -> Image.Image:
    colour = [(0, 0, 0), (255, 255, 255), (0, 128, 128), (30, 30, 30)][i % 4]
    return ImageOps.expand(im, border=max(1, round(0.1 * min(im.size))), fill=colour)


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _crop(im: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = im.size
    return im.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


def _caption(im: Image.Image, i: int) -> Image.Image:
    # Meme-style caption: white text with a black outline, ~9% of the height, across the bottom.
    out = im.copy()
    draw = ImageDraw.Draw(out)
    size = max(10, out.height // 11)
    font = ImageFont.load_default(size=size)
    text = ["BREAKING NEWS", "SHARE BEFORE DELETED", "THEY HID THIS", "NOT A DRILL"][i % 4]
    w = draw.textlength(text, font=font)
    draw.text(
        ((out.width - w) / 2, out.height - 1.6 * size),
        text,
        font=font,
        fill="white",
        stroke_width=max(1, size // 12),
        stroke_fill="black",
    )
    return out


def _logo(im: Image.Image, i: int) -> Image.Image:
    # An opaque badge over ~15% of the width in one corner (a channel logo / watermark).
    out = im.copy()
    draw = ImageDraw.Draw(out)
    s = max(8, round(0.15 * min(out.size)))
    x = 4 if i % 2 == 0 else out.width - s - 4
    y = 4 if (i // 2) % 2 == 0 else out.height - s - 4
    draw.rectangle((x, y, x + s, y + s), fill=(200, 30, 30))
    draw.ellipse((x + s // 4, y + s // 4, x + 3 * s // 4, y + 3 * s // 4), fill="white")
    return out


# The edit list; ``i`` varies which side/corner/text an edit uses across pictures.
EDITS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "crop 10% one side": lambda im, i: _crop(im, *[0.10 if k == i % 4 else 0.0 for k in range(4)]),
    "crop 5% each side": lambda im, i: _crop(im, 0.05, 0.05, 0.05, 0.05),
    "caption text": _caption,
    "flip": lambda im, i: ImageOps.mirror(im),
    "rotate 90": lambda im, i: im.rotate(90 if i % 2 == 0 else -90, expand=True),
    "greyscale": lambda im, i: ImageOps.grayscale(im).convert("RGB"),
    "brightness +30%": lambda im, i: ImageEnhance.Brightness(im).enhance(1.3),
    "JPEG q=30": lambda im, i: _jpeg(im, 30),
    "resize 50%": lambda im, i: im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.BILINEAR),
}
# Harder than the issue asks: reported, not targeted.
EXTRA_EDITS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "corner logo 15%": _logo,
    "padding 10% border": _pad,
    "crop 8% + flip + JPEG q=50": lambda im, i: _jpeg(ImageOps.mirror(_crop(im, 0.08, 0.0, 0.0, 0.08)), 50),
    "crop 15% one side": lambda im, i: _crop(im, *[0.15 if k == i % 4 else 0.0 for k in range(4)]),
    "rotate 5°": lambda im, i: im.rotate(5, resample=Image.Resampling.BILINEAR),
}


def _pct(xs: list[int] | list[float] | npt.NDArray[np.int64] | npt.NDArray[np.float64], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if len(xs) else float("nan")


# Held-out split. Each item (picture, clip, video) lands on one side by its name alone: thresholds are
# chosen on CHOOSE, and the figures that judge them are measured on REPORT, which chose nothing.
CHOOSE, REPORT = "choose", "report"
# The rule the shipped thresholds state, now applied to the choose split only: the closest unrelated pair
# minus a margin (images: 10 of 256 bits; audio: 0.12 BER; video: 0.2 of the keyframes), so that a bank
# larger than the test set, with closer chance pairs, still has room before a false match.
MARGIN_BITS = 10
MARGIN_BER = 0.12
MARGIN_VIDEO = 0.2


def split_of(key: str) -> str:
    """``CHOOSE`` or ``REPORT`` from the parity of the first byte of sha256(``key``): stable across runs,
    machines and listing order, and independent of anything measured."""
    return CHOOSE if hashlib.sha256(key.encode("utf-8")).digest()[0] % 2 == 0 else REPORT


def image_key(name: str) -> str:
    """The split key of a picture: a SAME_PICTURE pair shares one (its first name), so one photograph
    never sits on both sides."""
    for pair in SAME_PICTURE:
        if name in pair:
            return min(pair)
    return name


def choose_threshold(unrelated: Iterable[float], margin: float, step: float = 1.0) -> float:
    """The largest threshold on the grid of ``step`` with every unrelated distance at least ``margin``
    above it (no unrelated pair within the margin). ``unrelated`` must not be empty."""
    lowest = min(unrelated)
    # The epsilon keeps e.g. (0.42 - 0.12) / 0.01 = 29.999... on 30.
    return round(math.floor((lowest - margin) / step + 1e-9) * step, 10)


def recall_at(distances: Sequence[float] | npt.NDArray[Any], threshold: float) -> float:
    """Share of ``distances`` (copy to its own original) at or under ``threshold``."""
    d = np.asarray(distances)
    return float((d <= threshold).mean()) if d.size else float("nan")


def within(distances: Sequence[float] | npt.NDArray[Any], threshold: float) -> int:
    """How many of ``distances`` (unrelated pairs) are at or under ``threshold``: false matches."""
    return int((np.asarray(distances) <= threshold).sum())


def _pairs(matrix: npt.NDArray[Any], side: npt.NDArray[np.bool_], related: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
    """Unrelated (query row, bank column) cells with both ends on ``side``."""
    block = np.ix_(side, side)
    return np.asarray(matrix[block][~related[block]])


def _fmt(t: float) -> str:
    return f"{t:g}"


def _verdict(shipped: float, chosen: float, recalls: tuple[float, float], falses: tuple[int, int]) -> str:
    """Whether the chosen threshold beats the shipped one on the report split (recall up, false matches
    not up); the shipped constant changes only then."""
    if chosen == shipped:
        return f"the choose split gives the shipped threshold ({_fmt(shipped)})"
    better = recalls[1] > recalls[0] and falses[1] <= falses[0]
    return (
        f"the choose split gives {_fmt(chosen)}, the shipped constant is {_fmt(shipped)}; on the report split "
        f"{_fmt(chosen)} has recall {recalls[1]:.3f} vs {recalls[0]:.3f} and {falses[1]} vs {falses[0]} false "
        f"matches, so it is {'better: the constant should change' if better else 'not better: the constant stays'}"
    )


def image_section(runs: int) -> str:
    paths = unrelated_images()
    originals = [content(open_image(p)) for p in paths]
    names = [p.name for p in paths]
    n = len(paths)
    choose = np.array([split_of(image_key(name)) == CHOOSE for name in names])
    report = ~choose
    related = np.eye(n, dtype=bool)
    for k in range(n):
        for j in range(n):
            related[k, j] |= frozenset({names[k], names[j]}) in SAME_PICTURE

    # Speed, median of runs on the first SPEED_SAMPLE pictures: bank side, query side, plain PDQ.
    bank_times: list[float] = []
    query_times: list[float] = []
    plain_times: list[float] = []
    sample = originals[:SPEED_SAMPLE]
    for _ in range(runs):
        t0 = time.perf_counter()
        [hashing.image_hashes(a, "bank") for a in sample]
        t1 = time.perf_counter()
        [hashing.image_hashes(a, "query") for a in sample]
        t2 = time.perf_counter()
        [hashing.pdq(np.asarray(im)) for im in sample]
        t3 = time.perf_counter()
        bank_times.append(len(sample) / (t1 - t0))
        query_times.append(len(sample) / (t2 - t1))
        plain_times.append(len(sample) / (t3 - t2))
    bank = [hashing.image_hashes(a, "bank") for a in originals]
    queries = [hashing.image_hashes(a, "query") for a in originals]
    plain = [hashing.pdq(np.asarray(im)) for im in originals]

    words = [hashing.to_words(b.hashes) for b in bank]
    stacked = np.concatenate(words)
    have = np.array([len(w) > 0 for w in words])
    starts = np.cumsum([0] + [len(w) for w in words])[:-1][have]
    plain_words = hashing.to_words([h for h, _ in plain])
    plain_ok = np.array([q >= hashing.MIN_QUALITY for _, q in plain])

    def best_per_item(q: hashing.ImageHashes) -> npt.NDArray[np.int64]:
        best = np.full(n, hashing.BITS, dtype=np.int64)
        if q.hashes:
            d = hashing.hamming_matrix(hashing.to_words(q.hashes), stacked).min(axis=0)
            best[have] = np.minimum.reduceat(d, starts)
        return best

    # Best distance of every query (row: an original, or an edited copy of it) to every banked picture.
    originals_vs_bank = np.stack([best_per_item(q) for q in queries])
    plain_matrix = hashing.hamming_matrix(plain_words, plain_words).astype(np.int64)
    plain_usable = np.outer(plain_ok, plain_ok)
    all_edits = {**EDITS, **EXTRA_EDITS}
    edited_vs_bank: dict[str, npt.NDArray[np.int64]] = {}
    plain_own: dict[str, npt.NDArray[np.int64]] = {}
    for name, edit in all_edits.items():
        rows_e, plain_e = [], []
        for k, im in enumerate(originals):
            edited = edit(im, k)
            rows_e.append(best_per_item(hashing.image_hashes(edited, "query")))
            h, _ = hashing.pdq(np.asarray(edited))
            plain_e.append(int(hashing.hamming_matrix(hashing.to_words([h]), plain_words[k : k + 1])[0, 0]))
        edited_vs_bank[name] = np.stack(rows_e)
        plain_own[name] = np.array(plain_e)

    # Choose split: unrelated pairs = every choose-side query (original or edited copy) against every
    # other choose-side banked picture; the threshold is the closest of them minus the margin.
    choose_unrelated_orig = _pairs(originals_vs_bank, choose, related)
    choose_unrelated = np.concatenate(
        [choose_unrelated_orig] + [_pairs(m, choose, related) for m in edited_vs_bank.values()]
    )
    chosen = int(choose_threshold(choose_unrelated.tolist(), MARGIN_BITS))
    shipped = hashing.MATCH_BITS
    choose_own = np.concatenate([np.diag(edited_vs_bank[e])[choose] for e in EDITS])

    # Report split: recall per edit and false matches, at the shipped and at the chosen threshold.
    rows: list[str] = []
    report_own_targeted: list[npt.NDArray[np.int64]] = []
    report_unrelated_parts = [_pairs(originals_vs_bank, report, related)]
    for name in all_edits:
        own = np.diag(edited_vs_bank[name])[report]
        unrel = _pairs(edited_vs_bank[name], report, related)
        report_unrelated_parts.append(unrel)
        if name in EDITS:
            report_own_targeted.append(own)
        p_own = plain_own[name][report]
        target = "" if name in EDITS else " (extra)"
        rows.append(
            f"| {name}{target} | {len(own)} | **{recall_at(own, shipped):.3f}** | {recall_at(own, chosen):.3f} "
            f"| {statistics.median(own.tolist()):.0f} / {_pct(own, 95):.0f} | {within(unrel, shipped)} / "
            f"{within(unrel, chosen)} | {recall_at(p_own, PDQ_STANDARD_BITS):.3f} / {recall_at(p_own, shipped):.3f} "
            f"| {statistics.median(p_own.tolist()):.0f} |"
        )
    report_unrelated_orig = report_unrelated_parts[0]
    report_unrelated = np.concatenate(report_unrelated_parts)
    report_own = np.concatenate(report_own_targeted)
    report_own_all = np.concatenate([np.diag(m)[report] for m in edited_vs_bank.values()])
    everyone = np.ones(n, dtype=bool)
    all_unrelated_orig = _pairs(originals_vs_bank, everyone, related)
    plain_all = _pairs(np.where(plain_usable, plain_matrix, hashing.BITS + 1), everyone, related)
    plain_all = plain_all[plain_all <= hashing.BITS]
    plain_report = _pairs(np.where(plain_usable, plain_matrix, hashing.BITS + 1), report, related)
    plain_report = plain_report[plain_report <= hashing.BITS]
    verdict = _verdict(
        shipped,
        chosen,
        (recall_at(report_own, shipped), recall_at(report_own, chosen)),
        (within(report_unrelated, shipped), within(report_unrelated, chosen)),
    )

    # images/pdq_variants: bank the original, query every edit (a set that chose nothing either).
    pv = media_dir() / "images" / "pdq_variants"
    orig = hashing.image_hashes(open_image(pv / "bridge-1-original.jpg"), "bank")
    pv_rows: list[str] = []
    pv_hits = 0
    pv_false = 0
    edits = sorted(p for p in pv.glob("*.jpg") if p.name not in {"bridge-1-original.jpg", "aaa-orig.jpg"})
    for p in edits:
        q = hashing.image_hashes(open_image(p), "query")
        d, how = hashing.image_distance(q, orig)
        pv_hits += d <= shipped
        pv_false += int((best_per_item(q) <= shipped).sum())  # none of them is the bridge
        ph, _ = hashing.pdq(np.asarray(open_image(p)))
        pd0 = int(hashing.hamming_matrix(hashing.to_words([ph]), hashing.to_words([orig.hashes[0]]))[0, 0])
        pv_rows.append(f"| {p.name} | {d} | {how} | {pd0} |")

    n_choose, n_report = int(choose.sum()), int(report.sum())
    body = [
        f"### Images: {n} unrelated pictures (cnndetection + c2pa_examples), shipped threshold {shipped} bits",
        "",
        f"Bank side: {len(hashing.BANK_TRIMS)} windows x 8 dihedral = up to "
        f"{len(hashing.BANK_TRIMS) * 8} PDQ hashes per picture; query side: {len(hashing.QUERY_TRIMS)}. "
        f"Baseline: plain PDQ of the whole picture (threshold {PDQ_STANDARD_BITS}, and {shipped}).",
        "",
        f"Held-out split by picture (sha256 of the file name; the {len(SAME_PICTURE)} seeingdark real/fake "
        f"pairs that are one photograph stay together): **choose split** {n_choose} pictures, **report split** "
        f"{n_report}. Pairs across the splits are counted on neither side.",
        "",
        f"**Choose split** (sets the threshold): closest unrelated pair {int(choose_unrelated.min())} bits over "
        f"{len(choose_unrelated)} ordered pairs (originals and every edited copy against every other banked "
        f"picture; originals alone: min {int(choose_unrelated_orig.min())}); threshold = closest − "
        f"{MARGIN_BITS} = **{chosen} bits**, which gives recall {recall_at(choose_own, chosen):.3f} on the "
        f"issue's edits there ({len(choose_own)} copies).",
        "",
        f"**Report split** (chose nothing): {n_report} pictures, one row per edit; false matches = edited "
        f"copy against every other report-split picture.",
        "",
        f"| edit | n | recall @{shipped} (shipped) | recall @{chosen} (chosen) | own distance median / p95 "
        f"| false matches @{shipped} / @{chosen} | plain PDQ recall @{PDQ_STANDARD_BITS} / @{shipped} "
        "| plain PDQ median |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Report-split unrelated pairs ({len(report_unrelated_orig)} ordered pairs of originals, full "
        f"window/dihedral search): best distance min {int(report_unrelated_orig.min())}, p0.1 "
        f"{_pct(report_unrelated_orig, 0.1):.0f}, p1 {_pct(report_unrelated_orig, 1):.0f}, median "
        f"{_pct(report_unrelated_orig, 50):.0f}; with the edited copies {len(report_unrelated)} pairs, min "
        f"{int(report_unrelated.min())}; pairs ≤ {shipped} bits: **{within(report_unrelated, shipped)}**, ≤ "
        f"{chosen}: **{within(report_unrelated, chosen)}**. Plain PDQ (originals): min "
        f"{int(plain_report.min())}, p1 {_pct(plain_report, 1):.0f}, median {_pct(plain_report, 50):.0f}.",
        "",
        f"Threshold: {verdict} (judged on the issue's edits, the ones the threshold is for). With the extra "
        f"edits too: recall {recall_at(report_own_all, shipped):.3f} at {shipped} vs "
        f"{recall_at(report_own_all, chosen):.3f} at {chosen}; the report split's closest unrelated pair "
        f"({int(report_unrelated.min())}) is {int(report_unrelated.min()) - chosen} bits above {chosen} and "
        f"{int(report_unrelated.min()) - shipped} above {shipped}.",
        "",
        f"Both splits together (not held out, for reference): {len(all_unrelated_orig)} ordered pairs of "
        f"originals, best distance min {int(all_unrelated_orig.min())}, p0.1 {_pct(all_unrelated_orig, 0.1):.0f}, "
        f"median {_pct(all_unrelated_orig, 50):.0f}; plain PDQ min {int(plain_all.min())}, median "
        f"{_pct(plain_all, 50):.0f}.",
        "",
        f"images/pdq_variants (chose nothing): {pv_hits}/{len(edits)} edits match bridge-1-original at "
        f"{shipped} bits; false matches against the {n} other pictures: {pv_false}.",
        "",
        "| edit | distance | matched by | plain PDQ distance |",
        "|---|---|---|---|",
        *pv_rows,
        "",
        f"Hashing speed (median of {runs} runs over {len(sample)} decoded pictures, one core): bank side "
        f"{statistics.median(bank_times):.1f} images/s, query side {statistics.median(query_times):.0f} "
        f"images/s, plain PDQ at full size {statistics.median(plain_times):.0f} images/s.",
    ]
    return "\n".join(body)


def video_source(stem: str) -> str:
    """The source a tmk_variants clip is a version of (chair-*, pattern-*), else the clip itself."""
    head = stem.split("-")[0]
    return head if head in {"chair", "pattern"} else stem


def video_section() -> str:
    paths = sorted((media_dir() / "video" / "tmk_variants").glob("*.mp4"))
    t0 = time.perf_counter()
    banked = [vh.video_hashes(p, "bank") for p in paths]
    t1 = time.perf_counter()
    hashes = [vh.video_hashes(p, "query") for p in paths]
    t2 = time.perf_counter()
    names = [p.stem for p in paths]
    n = len(paths)
    choose = np.array([split_of(p.name) == CHOOSE for p in paths])
    related = np.array([[video_source(a) == video_source(b) for b in names] for a in names])
    dist = np.array([[vh.video_distance(a, b)[0] for b in banked] for a in hashes])
    shipped = vh.MATCH_DISTANCE
    off_diag = ~np.eye(n, dtype=bool)

    def related_pairs(side: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        block = np.ix_(side, side)
        return np.asarray(dist[block][(related & off_diag)[block]])

    choose_unrelated = _pairs(dist, choose, related)
    chosen = choose_threshold(choose_unrelated.tolist(), MARGIN_VIDEO, 0.01) if choose_unrelated.size else None
    choose_related, report_related = related_pairs(choose), related_pairs(~choose)
    report_unrelated = _pairs(dist, ~choose, related)
    header = "| | " + " | ".join(f"{i}" for i in range(n)) + " |"
    lines = [header, "|---" * (n + 1) + "|"]
    wrong = 0
    for i in range(n):
        cells = []
        for j in range(n):
            m = dist[i, j] <= shipped
            wrong += m != related[i, j]
            cells.append(f"{'**' if m else ''}{dist[i, j]:.2f}{'**' if m else ''}")
        side = "C" if choose[i] else "R"
        lines.append(f"| {i} {names[i]} ({side}) | " + " | ".join(cells) + " |")
    if chosen is None:
        choose_line = "no unrelated pair on the choose split, so nothing to choose a threshold from"
        report_at_chosen = ""
    else:
        choose_line = (
            f"closest unrelated pair {choose_unrelated.min():.2f} over {choose_unrelated.size} ordered pairs; "
            f"threshold = closest − {MARGIN_VIDEO} = **{_fmt(chosen)}**; recall there "
            f"{recall_at(choose_related, chosen):.3f} over {choose_related.size} ordered pairs of versions"
        )
        report_at_chosen = (
            ""
            if chosen == shipped
            else f"; at {_fmt(chosen)}: recall {recall_at(report_related, chosen):.3f}, false matches "
            f"{within(report_unrelated, chosen)}"
        )
    sources = sorted({video_source(s) for s in names})
    straddle = [s for s in sources if len({bool(choose[i]) for i in range(n) if video_source(names[i]) == s}) > 1]
    return "\n".join(
        [
            f"### Video: tmk_variants, query (row) against bank (column); distance = 1 - share of matched "
            f"keyframes; bold = match (≤ {shipped}, shipped)",
            "",
            f"Keyframes every {vh.QUERY_EVERY_S} s (query) / {vh.BANK_EVERY_S} s (bank), bars trimmed, "
            f"windowed PDQ per frame (frame match ≤ {vh.FRAME_BITS} bits, the image threshold). Hashing {n} "
            f"videos (decode included): bank side {t1 - t0:.1f} s, query side {t2 - t1:.1f} s.",
            "",
            f"Held-out split by clip (sha256 of the file name; C = choose, R = report in the matrix): "
            f"{int(choose.sum())} choose, {int((~choose).sum())} report. There are only {len(sources)} sources, "
            f"so versions of {', '.join(straddle) or 'no source'} sit on both sides: the split separates clips, "
            "not sources. Cells across the splits count on neither side.",
            "",
            f"**Choose split**: {choose_line}.",
            "",
            f"**Report split**: {report_related.size} ordered pairs of versions of one source, recall at "
            f"{shipped} (shipped) **{recall_at(report_related, shipped):.3f}**; {report_unrelated.size} unrelated "
            f"ordered pairs, false matches **{within(report_unrelated, shipped)}**{report_at_chosen}.",
            "",
            f"Wrong cells over the whole matrix at {shipped} (match between unrelated, or miss between versions of "
            f"one source; the shipped threshold was first set on this matrix, so this is not held out): {wrong}.",
            "",
            *lines,
        ]
    )


def reencode(samples: npt.NDArray[np.float32], rate: int, codec: str, bitrate: int) -> npt.NDArray[np.float32]:
    """Encode with PyAV (libmp3lame / aac) in memory and decode back at ``rate``: a real lossy round trip."""
    import av

    buf = io.BytesIO()
    fmt = {"mp3": "mp3", "aac": "adts"}[codec]
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks: list[npt.NDArray[np.float32]] = []
    with av.open(buf, "r") as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for fr in inp.decode(audio=0):
            chunks.extend(o.to_ndarray().reshape(-1).astype(np.float32) for o in resampler.resample(fr))
    return np.concatenate(chunks).astype(np.float32)


def audio_variants(samples: npt.NDArray[np.float32], rate: int) -> dict[str, npt.NDArray[np.float32]]:
    """Re-encoded (MP3 64 kb/s via PyAV), trimmed (1.3 s off the start, 1 s off the end), louder, quieter."""
    return {
        "mp3 64k": reencode(samples, rate, "mp3", 64_000),
        "trim 1.3 s": samples[int(1.3 * rate) : len(samples) - rate],
        "volume x0.5": samples * 0.5,
        "volume x1.8 (clipped)": np.clip(samples * 1.8, -1.0, 1.0).astype(np.float32),
        "aac 48k + trim 0.7 s": reencode(samples[int(0.7 * rate) :], rate, "aac", 48_000),
    }


def audio_paths() -> list[Path]:
    base = media_dir() / "audio" / "voice_clone"
    return sorted(base.glob("donald_trump/*/*.mp3")) + sorted(base.glob("librispeech_test-other/*/*.flac"))[::4]


def audio_section() -> str:
    paths = audio_paths()
    rate = af.RATE
    t0 = time.perf_counter()
    samples = [audio_samples(p, rate=rate, max_seconds=60) for p in paths]
    prints = [af.fingerprint(s, rate) for s in samples]
    dt = time.perf_counter() - t0
    seconds = sum(len(s) for s in samples) / rate
    n = len(paths)
    choose = np.array([split_of(p.name) == CHOOSE for p in paths])
    related = np.eye(n, dtype=bool)
    originals = np.array([[af.audio_distance(prints[i], prints[j])[0] for j in range(n)] for i in range(n)])
    # Every copy against every original: the diagonal is recall, the rest are unrelated pairs.
    copies: dict[str, npt.NDArray[np.float64]] = {}
    for i, s in enumerate(samples):
        for name, copy in audio_variants(s, rate).items():
            fp = af.fingerprint(copy, rate)
            copies.setdefault(name, np.ones((n, n)))[i] = [af.audio_distance(fp, p)[0] for p in prints]
    choose_unrelated = np.concatenate(
        [_pairs(originals, choose, related)] + [_pairs(m, choose, related) for m in copies.values()]
    )
    chosen = choose_threshold(choose_unrelated.tolist(), MARGIN_BER, 0.01)
    shipped = af.MATCH_BER
    choose_own = np.concatenate([np.diag(m)[choose] for m in copies.values()])
    report = ~choose
    rows = []
    report_own: list[npt.NDArray[np.float64]] = []
    report_unrelated_parts = [_pairs(originals, report, related)]
    for name, m in copies.items():
        ds = np.diag(m)[report]
        unrel = _pairs(m, report, related)
        report_own.append(ds)
        report_unrelated_parts.append(unrel)
        rows.append(
            f"| {name} | {ds.size} | **{recall_at(ds, shipped):.3f}** | {recall_at(ds, chosen):.3f} | "
            f"{statistics.median(ds.tolist()):.3f} / {ds.max():.3f} | {within(unrel, shipped)} / "
            f"{within(unrel, chosen)} |"
        )
    unrelated = report_unrelated_parts[0]
    all_unrelated = np.concatenate(report_unrelated_parts)
    own_all = np.concatenate(report_own)
    verdict = _verdict(
        shipped,
        chosen,
        (recall_at(own_all, shipped), recall_at(own_all, chosen)),
        (within(all_unrelated, shipped), within(all_unrelated, chosen)),
    )
    per_set = Counter(p.parent.parent.name for p in paths)
    return "\n".join(
        [
            f"### Audio: {n} voice_clone clips ("
            + ", ".join(f"{count} {folder}" for folder, count in sorted(per_set.items()))
            + "; every 4th LibriSpeech flac), first 60 s",
            "",
            f"Haitsma–Kalker sub-fingerprints; distance = bit error rate at the best alignment; shipped match ≤ "
            f"{shipped}. Fingerprinting {seconds:.0f} s of audio took {dt:.1f} s (decode included).",
            "",
            f"Held-out split by clip (sha256 of the file name): **choose split** {int(choose.sum())} clips, "
            f"**report split** {int(report.sum())}.",
            "",
            f"**Choose split** (sets the threshold): closest unrelated pair BER {choose_unrelated.min():.3f} over "
            f"{choose_unrelated.size} ordered pairs (originals and every copy against every other choose-split "
            f"original); threshold = closest − {MARGIN_BER}, rounded down to 0.01 = **{_fmt(chosen)}**, recall "
            f"{recall_at(choose_own, chosen):.3f} on the copies there ({choose_own.size}).",
            "",
            "**Report split** (chose nothing): false matches = copy against every other report-split clip.",
            "",
            f"| copy | n | recall @{shipped} (shipped) | recall @{_fmt(chosen)} (chosen) | BER median / max "
            f"| false matches @{shipped} / @{_fmt(chosen)} |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"Shortest clip: {min(len(s) for s in samples) / rate:.1f} s (a trim can leave a clip that short "
            "with nothing to compare: a miss, not a false match).",
            "",
            f"Report-split unrelated ordered pairs of originals ({unrelated.size}; 1.0 where no alignment was "
            f"found at all): BER min {unrelated.min():.3f}, p1 {_pct(unrelated, 1):.3f}, median "
            f"{_pct(unrelated, 50):.3f}; with the copies {all_unrelated.size} pairs, min {all_unrelated.min():.3f}; "
            f"matches at {shipped}: **{within(all_unrelated, shipped)}**, at {_fmt(chosen)}: "
            f"**{within(all_unrelated, chosen)}**.",
            "",
            f"Threshold: {verdict} (`MATCH_BER` in flockwatch/media/audio_fingerprint.py). The report split's "
            f"closest unrelated pair ({all_unrelated.min():.3f}) is {all_unrelated.min() - shipped:.3f} above "
            f"{shipped}; the originals' closest ({unrelated.min():.3f}) {unrelated.min() - shipped:.3f}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["image", "video", "audio"], default=None)
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    parts = []
    if args.only in (None, "image"):
        parts.append(image_section(args.runs))
    if args.only in (None, "video"):
        parts.append(video_section())
    if args.only in (None, "audio"):
        parts.append(audio_section())
    body = "\n\n".join(parts)
    print(body)
    if not args.no_write and args.only is None:
        write_section("Media matching", COMMAND, body)


if __name__ == "__main__":
    main()
