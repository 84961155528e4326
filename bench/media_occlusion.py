"""Picture matching under occlusion: captions, banners, stickers and logos over part of the picture.

    .venv/bin/python -m bench.media_occlusion [--no-write]

Every cnndetection + c2pa_examples picture is banked the way ``flockwatch bank add`` banks it (windowed
PDQ + ORB keypoints, :func:`flockwatch.media.bank.picture_hashes`), and edited copies are looked up with
:meth:`flockwatch.media.bank.Bank.match_picture`, the code ``flockwatch match`` runs: PDQ through the
hash index, then the keypoint stage when PDQ finds nothing. The edits are drawn with PIL and vary per
picture (seeded by its index): caption bars at the top or bottom of 15-35% of the height, opaque or
semi-transparent, in several colours, with one or two lines of text; a caption bar added above the
picture (the canvas grows, as meme generators do); top and bottom captions together; a banner with text
across the middle at a varying height; stickers/logos of 10-25% of the area in a random corner (disc,
badge or rounded box with text); and combinations with JPEG recompression, resizing and a mirror flip.

Held-out split as in :mod:`bench.media_matching` (sha256 of the file name): on the **choose** split the
keypoint inlier thresholds are set to the most inliers any unrelated pair reaches (edited copy against
other banked pictures: its keypoint candidates plus a fixed random sample of ``SAMPLE_UNRELATED``
others, each upright and mirrored, sane transforms only), doubled (:func:`choose_threshold`): once over
all pairs (``MIN_INLIERS``) and once over the pairs whose inliers cover ``MIN_COVERED_CELLS`` grid cells
(``MIN_COVERED_INLIERS``); the **report** split, which chose nothing, gives recall per edit and false
matches through the whole pipeline at the chosen thresholds (the shipped constants should equal them; the
section says whether they do), and the same sampled all-pairs check there.
Distractors: frames of every video in the shared data (and the pdq_variants
bridge), split by source into two groups (:func:`distractors`). One group is banked as decoy memes, with
captions, banners and stickers in the same fonts and texts as the queries' (the overlay-against-overlay
case: in the bank for every figure, and among the choose split's candidates); the other is never banked
and is looked up plain and with every edit: any match is a false match.

Writes the "Media matching: occlusion" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from bench.media_matching import (
    CHOOSE,
    SAME_PICTURE,
    content,
    image_key,
    media_dir,
    split_of,
    unrelated_images,
    video_source,
)
from bench.report import write_section
from flockwatch.media import keypoints as kp
from flockwatch.media.bank import Bank, BankItem, Match, picture_hashes
from flockwatch.media.decode import open_image, video_frames

COMMAND = ".venv/bin/python -m bench.media_occlusion"
SAMPLE_UNRELATED = 12
MARGIN_INLIERS = 8


def choose_threshold(most_unrelated: int) -> int:
    """Twice the most inliers an unrelated pair reached on the choose split, and at least MARGIN_INLIERS more:
    a bigger bank than this one holds closer chance pairs."""
    return most_unrelated + max(MARGIN_INLIERS, most_unrelated)


TEXTS = (
    "WHEN THE NEWS FINALLY ADMITS IT",
    "SHARE BEFORE THEY DELETE THIS",
    "BREAKING: THEY LIED AGAIN",
    "nobody is talking about this",
    "THIS IS NOT A DRILL",
    "Wake up people!!!",
    "me explaining it for the 5th time",
    "100% REAL NOT FAKE",
)
COLOURS = ((255, 255, 255), (0, 0, 0), (200, 20, 20), (250, 210, 0), (20, 60, 160), (40, 40, 40))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _text_colour(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    return (0, 0, 0) if sum(bg) > 382 else (255, 255, 255)


def _draw_text(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    text: str,
    colour: tuple[int, int, int],
    lines: int,
    rng: random.Random,
) -> None:
    """``text`` in ``lines`` lines centred in ``box``, shrunk to fit its width."""
    x0, y0, x1, y1 = box
    words = text.split()
    per = max(1, -(-len(words) // lines))
    rows = [" ".join(words[k : k + per]) for k in range(0, len(words), per)]
    size = max(8, int((y1 - y0) / (len(rows) * 1.35)))
    font = _font(size)
    while size > 8 and max(draw.textlength(r, font=font) for r in rows) > 0.94 * (x1 - x0):
        size -= 1
        font = _font(size)
    stroke = rng.choice([0, max(1, size // 14)])
    y = y0 + ((y1 - y0) - len(rows) * size * 1.2) / 2
    for r in rows:
        w = draw.textlength(r, font=font)
        draw.text(
            ((x0 + x1 - w) / 2, y),
            r,
            font=font,
            fill=colour,
            stroke_width=stroke,
            stroke_fill=(0, 0, 0) if colour != (0, 0, 0) else (255, 255, 255),
        )
        y += size * 1.2


def caption_bar(im: Image.Image, rng: random.Random, where: str | None = None) -> Image.Image:
    """An opaque or semi-transparent bar with text over the top or bottom 15-35% of the picture."""
    out = im.convert("RGB").copy()
    w, h = out.size
    bh = round(h * rng.uniform(0.15, 0.35))
    top = (where or rng.choice(["top", "bottom"])) == "top"
    box = (0, 0, w, bh) if top else (0, h - bh, w, h)
    bg = rng.choice(COLOURS)
    alpha = rng.choice([255, 255, 200, 150])
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle(box, fill=(*bg, alpha))
    out = Image.alpha_composite(out.convert("RGBA"), layer).convert("RGB")
    _draw_text(ImageDraw.Draw(out), box, rng.choice(TEXTS), _text_colour(bg), rng.choice([1, 2]), rng)
    return out


def caption_above(im: Image.Image, rng: random.Random) -> Image.Image:
    """Meme-generator style: the canvas grows by a 15-35% text bar above the picture."""
    w, h = im.size
    frac = rng.uniform(0.15, 0.35)
    bh = round(h * frac / (1 - frac))
    bg = rng.choice([(255, 255, 255), (255, 255, 255), (0, 0, 0)])
    out = Image.new("RGB", (w, h + bh), bg)
    out.paste(im.convert("RGB"), (0, bh))
    _draw_text(ImageDraw.Draw(out), (0, 0, w, bh), rng.choice(TEXTS), _text_colour(bg), rng.choice([1, 2]), rng)
    return out


def top_and_bottom(im: Image.Image, rng: random.Random) -> Image.Image:
    """Classic meme: text bars at the top and the bottom, 12-20% each."""
    out = im.convert("RGB").copy()
    w, h = out.size
    draw = ImageDraw.Draw(out)
    for top in (True, False):
        bh = round(h * rng.uniform(0.12, 0.20))
        box = (0, 0, w, bh) if top else (0, h - bh, w, h)
        bg = rng.choice(COLOURS)
        draw.rectangle(box, fill=bg)
        _draw_text(draw, box, rng.choice(TEXTS), _text_colour(bg), 1, rng)
    return out


def banner(im: Image.Image, rng: random.Random) -> Image.Image:
    """A news-ticker banner with text across the picture, 12-25% high, centred at 30-70% of the height."""
    out = im.convert("RGB").copy()
    w, h = out.size
    bh = round(h * rng.uniform(0.12, 0.25))
    cy = round(h * rng.uniform(0.30, 0.70))
    box = (0, cy - bh // 2, w, cy - bh // 2 + bh)
    bg = rng.choice(COLOURS)
    draw = ImageDraw.Draw(out)
    draw.rectangle(box, fill=bg)
    _draw_text(draw, box, rng.choice(TEXTS), _text_colour(bg), 1, rng)
    return out


def sticker(im: Image.Image, rng: random.Random) -> Image.Image:
    """A sticker/logo over 10-25% of the area in a random corner: disc, badge or rounded box, with text."""
    out = im.convert("RGB").copy()
    w, h = out.size
    area = rng.uniform(0.10, 0.25) * w * h
    aspect = rng.uniform(0.7, 1.6)
    sw = min(w - 2, round((area * aspect) ** 0.5))
    sh = min(h - 2, round(area / max(1, sw)))
    pad = round(0.02 * min(w, h))
    x = pad if rng.random() < 0.5 else w - sw - pad
    y = pad if rng.random() < 0.5 else h - sh - pad
    bg = rng.choice(COLOURS)
    draw = ImageDraw.Draw(out)
    shape = rng.choice(["disc", "badge", "box"])
    if shape == "disc":
        draw.ellipse((x, y, x + sw, y + sh), fill=bg, outline=(255, 255, 255), width=max(1, sw // 25))
    elif shape == "badge":
        draw.rectangle((x, y, x + sw, y + sh), fill=bg)
        draw.ellipse((x + sw // 4, y + sh // 4, x + 3 * sw // 4, y + 3 * sh // 4), fill=_text_colour(bg))
    else:
        draw.rounded_rectangle((x, y, x + sw, y + sh), radius=max(1, min(sw, sh) // 5), fill=bg)
    label = rng.choice(["LIVE", "NEWS 24", "@truthdaily", "FAKE?", "TV9", "VIRAL"])
    _draw_text(
        draw,
        (x + sw // 8, y + sh // 3, x + 7 * sw // 8, y + 2 * sh // 3),
        label,
        _text_colour(bg) if shape != "badge" else bg,
        1,
        rng,
    )
    return out


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _half(im: Image.Image) -> Image.Image:
    return im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.BILINEAR)


Edit = Callable[[Image.Image, random.Random], Image.Image]
EDITS: dict[str, Edit] = {
    "caption bar top 15-35%": lambda im, r: caption_bar(im, r, "top"),
    "caption bar bottom 15-35%": lambda im, r: caption_bar(im, r, "bottom"),
    "caption bar added above (canvas grows)": caption_above,
    "captions top + bottom": top_and_bottom,
    "banner across the middle": banner,
    "corner sticker/logo 10-25%": sticker,
    "caption bar + corner sticker": lambda im, r: sticker(caption_bar(im, r), r),
    "caption bar + JPEG q=50": lambda im, r: _jpeg(caption_bar(im, r), 50),
    "caption bar + resize 50%": lambda im, r: _half(caption_bar(im, r)),
    "banner + JPEG q=40 + resize 50%": lambda im, r: _jpeg(_half(banner(im, r)), 40),
    "sticker + mirror flip": lambda im, r: ImageOps.mirror(sticker(im, r)),
    "caption added above + JPEG q=60": lambda im, r: _jpeg(caption_above(im, r), 60),
}


def _sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def edit_rng(name: str, edit: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{name}|{edit}".encode()).digest()[:8], "big"))


def clip_source(stem: str) -> str:
    """The source a clip is a version of: tmk_variants' chair-*/pattern-*, and FaceForensics++'s
    manipulated ``<target>_<donor>`` clips are edits of original ``<target>``."""
    head = stem.split("_")[0]
    return video_source(head) if head.isdigit() is False else head


def distractors() -> tuple[list[tuple[str, Image.Image]], list[tuple[str, Image.Image]]]:
    """Pictures that are none of the banked ones: frames of every shared video (one every 2 s) and the
    pdq_variants bridge, in two groups by source (tmk_variants' chair-* and pattern-* clips are versions of
    one source each): (decoys, queries). Decoys are banked with captions and banners in the same fonts and
    texts as the queries' (meme against meme); queries are looked up with every edit."""
    decoys: list[tuple[str, Image.Image]] = []
    queries: list[tuple[str, Image.Image]] = []
    videos = sorted((media_dir() / "video").rglob("*.mp4"))
    sources = sorted({clip_source(v.stem) for v in videos})
    for v in videos:
        side = decoys if sources.index(clip_source(v.stem)) % 2 == 0 else queries
        for f in video_frames(v, every_s=2.0, max_frames=12):
            side.append((f"{v.stem}@{f.t:.0f}s", Image.fromarray(f.rgb)))
    queries.append(
        ("bridge-1-original.jpg", open_image(media_dir() / "images" / "pdq_variants" / "bridge-1-original.jpg"))
    )
    return decoys, queries


DECOY_EDITS = (
    "caption bar top 15-35%",
    "captions top + bottom",
    "banner across the middle",
    "caption bar added above (canvas grows)",
    "corner sticker/logo 10-25%",
)


def _sane_inliers(v: kp.Verdict) -> int:
    """Inliers of a verdict that passes every check but the inlier count (what a threshold must exceed)."""
    return v.inliers if v.sane and v.spread >= kp.MIN_SPREAD else 0


def _covered_inliers(v: kp.Verdict) -> int:
    """Inliers of a verdict that passes every check of the covered rule but the inlier count."""
    return _sane_inliers(v) if v.cells >= kp.MIN_COVERED_CELLS else 0


def image_section(every: int = 1) -> str:
    paths = unrelated_images()[::every]
    names = [p.name for p in paths]
    pictures = [content(open_image(p)) for p in paths]
    n = len(paths)
    choose = np.array([split_of(image_key(name)) == CHOOSE for name in names])
    t0 = time.perf_counter()
    records = [
        BankItem(name, _sha(name), "image", "known_fake", "", "", picture_hashes(im, "bank"))
        for name, im in zip(names, pictures, strict=True)
    ]
    bank_s = (time.perf_counter() - t0) / n
    decoy_sources, dis = distractors()
    decoy_sources, dis = decoy_sources[::every], dis[::every]
    for name, im in decoy_sources:
        for edit in DECOY_EDITS:
            decoy = EDITS[edit](im, edit_rng(name, "decoy " + edit))
            label = f"decoy {edit}: {name}"
            records.append(BankItem(label, _sha(label), "image", "known_fake", "", "", picture_hashes(decoy, "bank")))
    bank = Bank.from_records([r.record() for r in records], "occlusion-bench")
    banked = [kp.Keypoints.from_dict(r.hashes["keypoints"]) for r in records]
    sizes = [len(str(r.hashes["keypoints"])) for r in records]

    def related(a: str, b: str) -> bool:
        return a == b or frozenset({a, b}) in SAME_PICTURE

    n_bank = len(records)
    sample_rng = random.Random(7)
    hits: dict[str, list[bool]] = {e: [] for e in EDITS}
    via_keypoints: dict[str, int] = dict.fromkeys(EDITS, 0)
    false_pipeline: dict[str, int] = dict.fromkeys(EDITS, 0)
    false_examples: list[str] = []
    choose_unrelated: list[int] = []
    choose_covered: list[int] = []
    closest_covered, best_covered = "", -1
    report_unrelated: list[int] = []
    report_covered: list[int] = []
    report_false_pairs = 0
    report_sampled_pairs = 0
    choose_sampled_pairs = 0
    choose_own: list[list[kp.Verdict]] = []
    closest, best_unrelated = "", -1
    times: list[float] = []
    shipped = kp.MIN_INLIERS, kp.MIN_COVERED_INLIERS
    try:
        # Choose split: the keypoint verdict alone (every inlier count measured: no early exit), against the
        # copy's keypoint candidates and sampled unrelated pictures, upright and mirrored.
        kp.MIN_INLIERS = kp.MIN_COVERED_INLIERS = 4
        for k, (name, im) in enumerate(zip(names, pictures, strict=True)):
            if not choose[k]:
                continue
            for edit, fn in EDITS.items():
                pair = kp.query_keypoints(fn(im, edit_rng(name, edit)))
                others = [j for j in range(n) if choose[j] and not related(names[j], name)]
                picked = set(sample_rng.sample(others, min(SAMPLE_UNRELATED, len(others))))
                for side in pair:
                    picked.update(j for j in bank_candidates(bank, side) if not related(records[j].item, name))
                for j in picked:
                    for side in pair:
                        v = kp.verify(side, banked[j])
                        got, covered = _sane_inliers(v), _covered_inliers(v)
                        if got > best_unrelated:
                            best_unrelated, closest = got, f"{edit} of {name} ~ {records[j].item}"
                        if covered > best_covered:
                            best_covered, closest_covered = covered, f"{edit} of {name} ~ {records[j].item}"
                        choose_unrelated.append(got)
                        choose_covered.append(covered)
                        choose_sampled_pairs += 1
                choose_own.append([kp.verify(side, banked[k]) for side in pair])
        chosen = choose_threshold(max(choose_unrelated))
        chosen_covered = choose_threshold(max(choose_covered))
        # Report split and distractors at the chosen thresholds: the whole pipeline.
        kp.MIN_INLIERS, kp.MIN_COVERED_INLIERS = chosen, chosen_covered
        own_matched = np.array([any(v.matched for v in sides) for sides in choose_own])
        for k, (name, im) in enumerate(zip(names, pictures, strict=True)):
            if choose[k]:
                continue
            for edit, fn in EDITS.items():
                q = fn(im, edit_rng(name, edit))
                t = time.perf_counter()
                matches = bank.match_picture(q)
                times.append(time.perf_counter() - t)
                own_hit = [m for m in matches if related(m.item, name)]
                hits[edit].append(bool(own_hit))
                via_keypoints[edit] += bool(own_hit) and all("keypoint" in m.how for m in own_hit)
                wrong = [m for m in matches if not related(m.item, name)]
                false_pipeline[edit] += len(wrong)
                false_examples.extend(f"{edit} of {name} ~ {m.item} ({m.how})" for m in wrong)
                pair = kp.query_keypoints(q)
                others = [j for j in range(n) if not choose[j] and not related(names[j], name)]
                for j in sample_rng.sample(others, min(SAMPLE_UNRELATED, len(others))):
                    for side in pair:
                        v = kp.verify(side, banked[j])
                        report_unrelated.append(_sane_inliers(v))
                        report_covered.append(_covered_inliers(v))
                        report_false_pairs += v.matched
                        report_sampled_pairs += 1
        dis_queries, dis_false = distractor_lookups(bank, dis, false_examples)
    finally:
        kp.MIN_INLIERS, kp.MIN_COVERED_INLIERS = shipped

    n_videos = len({d.split("@")[0] for d, _ in dis + decoy_sources if "@" in d})

    rows = []
    total_hits = 0
    total = 0
    for edit in EDITS:
        h = hits[edit]
        total_hits += sum(h)
        total += len(h)
        rows.append(f"| {edit} | {len(h)} | **{np.mean(h):.3f}** | {via_keypoints[edit]} | {false_pipeline[edit]} |")
    n_choose, n_report = int(choose.sum()), int((~choose).sum())
    ru = np.asarray(report_unrelated)
    cu = np.asarray(choose_unrelated)
    cc = np.asarray(choose_covered)
    rc = np.asarray(report_covered)
    verdict = (
        f"the choose split gives {chosen} and {chosen_covered}, the shipped MIN_INLIERS and MIN_COVERED_INLIERS are "
        f"{shipped[0]} and {shipped[1]}"
    ) + (": the same" if (chosen, chosen_covered) == shipped else ": the constants should change to the chosen values")
    body = [
        f"### {n} banked pictures (cnndetection + c2pa_examples); {len(EDITS)} occlusion edits, varied per picture",
        "",
        f"Bank side per picture: windowed PDQ + up to {kp.BANK_FEATURES} ORB keypoints (median "
        f"{statistics.median(sizes) / 1024:.1f} KiB of JSON), {bank_s * 1000:.0f} ms per picture. Query: "
        f"`Bank.match_picture` (the `flockwatch match` path): PDQ ≤ 52 bits through the hash index, else the "
        f"keypoint stage on ≤ {kp.CANDIDATES} candidates per orientation.",
        "",
        f'Held-out split by picture as in "Media matching": **choose** {n_choose}, **report** {n_report}.',
        "",
        f"**Choose split** (sets the keypoint threshold): {choose_sampled_pairs} unrelated (edited copy, banked "
        f"picture, orientation) pairs (keypoint candidates + {SAMPLE_UNRELATED} sampled others per copy): most "
        f"inliers of a sane transform {int(cu.max())} ({closest}; p99 {np.percentile(cu, 99):.0f}); threshold = "
        f"twice that, at least {MARGIN_INLIERS} more = **{chosen}**. Over the pairs whose inliers fall in at least "
        f"{kp.MIN_COVERED_CELLS} of the {kp.COVER_GRID}x{kp.COVER_GRID} cells: most {int(cc.max())} "
        f"({closest_covered or 'none'}); threshold the same way = **{chosen_covered}**. Own copies matched by the "
        f"keypoint stage alone under both: {np.mean(own_matched):.3f} ({len(own_matched)} copies). Thresholds: "
        f"{verdict}.",
        "",
        f"**Report split** (chose nothing), whole pipeline at the chosen thresholds {chosen} / {chosen_covered} "
        f"covered: false matches "
        f"= any banked picture other than the copy's own, over all {n_bank - 1} others ({n - 1} pictures and the "
        f"{n_bank - n} decoy memes).",
        "",
        "| edit | n | recall | of them via keypoints | false matches |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"All report-split occlusion edits: recall **{total_hits / max(1, total):.3f}** ({total_hits}/{total}); "
        f"false matches **{sum(false_pipeline.values())}** over {total} lookups x {n_bank - 1} banked others. "
        f"Sampled all-pairs check on the report split: {report_sampled_pairs} unrelated (copy, picture, "
        f"orientation) pairs verified directly, most sane inliers {int(ru.max())} ({int(rc.max())} with "
        f"{kp.MIN_COVERED_CELLS}+ cells covered), pairs that match: **{report_false_pairs}**.",
        "",
        f"Distractors, by source in two groups (frames every 2 s of the {n_videos} shared videos, and the "
        f"pdq_variants bridge): {len(decoy_sources)} frames banked as decoys with captions/banners in the same "
        f"fonts and texts as the queries ({len(decoy_sources) * len(DECOY_EDITS)} banked memes, in the bank for "
        f"every figure above); {len(dis)} never banked, looked up plain and with every edit: {dis_queries} lookups, "
        f"false matches **{len(dis_false)}**"
        + (f" ({', '.join(sorted({m.item for m in dis_false})[:5])})" if dis_false else "")
        + ".",
        "",
        *(["False matches (up to 10):", "", *[f"- {e}" for e in false_examples[:10]], ""] if false_examples else []),
        f"Lookup time (report split, PDQ + keypoint stage, one core): median "
        f"{statistics.median(times) * 1000:.0f} ms, p95 {np.percentile(times, 95) * 1000:.0f} ms.",
    ]
    return "\n".join(body)


def _unedited(im: Image.Image, rng: random.Random) -> Image.Image:
    return im


def distractor_lookups(bank: Bank, dis: list[tuple[str, Image.Image]], examples: list[str]) -> tuple[int, list[Match]]:
    """Every never-banked picture, plain and with every edit, through the pipeline: (lookups, matches)."""
    lookups = 0
    found: list[Match] = []
    for name, im in dis:
        plain: list[tuple[str, Edit]] = [("plain", _unedited)]
        for edit, fn in [*plain, *EDITS.items()]:
            got = bank.match_picture(fn(im, edit_rng(name, edit)))
            found.extend(got)
            examples.extend(f"{edit} of {name} ~ {m.item} ({m.how})" for m in got)
            lookups += 1
    return lookups, found


def bank_candidates(bank: Bank, q: kp.Keypoints) -> list[int]:
    """The keypoint stage's candidates for ``q`` in ``bank`` (positions among its pictures)."""
    return bank.picture_index().descriptors.candidates(q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    parser.add_argument("--every", type=int, default=1, help="every n-th picture only (a quick look; never written)")
    args = parser.parse_args()
    body = image_section(args.every)
    print(body)
    if not args.no_write and args.every == 1:
        write_section("Media matching: occlusion", COMMAND, body)


if __name__ == "__main__":
    main()
