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

Writes the "Media matching" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

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


def _pct(xs: list[int] | list[float] | npt.NDArray[np.int64], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if len(xs) else float("nan")


def image_section(runs: int) -> tuple[str, dict[str, float]]:
    paths = unrelated_images()
    originals = [content(open_image(p)) for p in paths]
    names = [p.name for p in paths]

    # Speed, median of runs on the first 40 pictures: bank side (648 hashes), query side (5), plain PDQ.
    bank_times: list[float] = []
    query_times: list[float] = []
    plain_times: list[float] = []
    sample = originals[:40]
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

    def related(k: int, j: int) -> bool:
        return k == j or frozenset({names[k], names[j]}) in SAME_PICTURE

    words = [hashing.to_words(b.hashes) for b in bank]
    stacked = np.concatenate(words)
    have = np.array([len(w) > 0 for w in words])
    starts = np.cumsum([0] + [len(w) for w in words])[:-1][have]
    plain_words = hashing.to_words([h for h, _ in plain])
    plain_ok = np.array([q >= hashing.MIN_QUALITY for _, q in plain])

    def best_per_item(q: hashing.ImageHashes) -> npt.NDArray[np.int64]:
        best = np.full(len(bank), hashing.BITS, dtype=np.int64)
        if q.hashes:
            d = hashing.hamming_matrix(hashing.to_words(q.hashes), stacked).min(axis=0)
            best[have] = np.minimum.reduceat(d, starts)
        return best

    # Unrelated pairs: each original as a query against every other banked picture.
    unrelated: list[int] = []
    plain_unrelated: list[int] = []
    for k, q in enumerate(queries):
        best = best_per_item(q)
        unrelated.extend(int(x) for j, x in enumerate(best) if not related(k, j))
        pd = hashing.hamming_matrix(plain_words[k : k + 1], plain_words)[0]
        plain_unrelated.extend(int(x) for j, x in enumerate(pd) if not related(k, j) and plain_ok[j] and plain_ok[k])

    rows: list[str] = []
    figures: dict[str, float] = {}
    all_edits = {**EDITS, **EXTRA_EDITS}
    for name, edit in all_edits.items():
        own: list[int] = []
        plain_own: list[int] = []
        false = 0
        for k, im in enumerate(originals):
            edited = edit(im, k)
            best = best_per_item(hashing.image_hashes(edited, "query"))
            own.append(int(best[k]))
            false += sum(1 for j, x in enumerate(best) if not related(k, j) and x <= hashing.MATCH_BITS)
            h, _ = hashing.pdq(np.asarray(edited))
            plain_own.append(int(hashing.hamming_matrix(hashing.to_words([h]), plain_words[k : k + 1])[0, 0]))
        recall = sum(d <= hashing.MATCH_BITS for d in own) / len(own)
        plain_recall = sum(d <= PDQ_STANDARD_BITS for d in plain_own) / len(plain_own)
        plain_recall_t = sum(d <= hashing.MATCH_BITS for d in plain_own) / len(plain_own)
        figures[name] = recall
        target = "" if name in EDITS else " (extra)"
        rows.append(
            f"| {name}{target} | {len(own)} | **{recall:.3f}** | {statistics.median(own):.0f} / {_pct(own, 95):.0f} "
            f"| {false} | {plain_recall:.3f} / {plain_recall_t:.3f} | {statistics.median(plain_own):.0f} |"
        )
        figures[f"p99 {name}"] = _pct(own, 99)

    # images/pdq_variants: bank the original, query every edit.
    pv = media_dir() / "images" / "pdq_variants"
    orig = hashing.image_hashes(open_image(pv / "bridge-1-original.jpg"), "bank")
    pv_rows: list[str] = []
    pv_hits = 0
    pv_false = 0
    edits = sorted(p for p in pv.glob("*.jpg") if p.name not in {"bridge-1-original.jpg", "aaa-orig.jpg"})
    for p in edits:
        q = hashing.image_hashes(open_image(p), "query")
        d, how = hashing.image_distance(q, orig)
        pv_hits += d <= hashing.MATCH_BITS
        pv_false += int((best_per_item(q) <= hashing.MATCH_BITS).sum())  # none of them is the bridge
        ph, _ = hashing.pdq(np.asarray(open_image(p)))
        pd0 = int(hashing.hamming_matrix(hashing.to_words([ph]), hashing.to_words([orig.hashes[0]]))[0, 0])
        pv_rows.append(f"| {p.name} | {d} | {how} | {pd0} |")

    n_pairs = len(unrelated)
    body = [
        f"### Images: {len(paths)} unrelated pictures (cnndetection + c2pa_examples), threshold "
        f"{hashing.MATCH_BITS} bits",
        "",
        f"Bank side: {len(hashing.BANK_TRIMS)} windows x 8 dihedral = up to "
        f"{len(hashing.BANK_TRIMS) * 8} PDQ hashes per picture; query side: {len(hashing.QUERY_TRIMS)}. "
        f"Baseline: plain PDQ of the whole picture (threshold {PDQ_STANDARD_BITS}, and "
        f"{hashing.MATCH_BITS}).",
        "",
        "| edit | n | recall | own distance median / p95 | false matches (vs all other pictures) "
        f"| plain PDQ recall @{PDQ_STANDARD_BITS} / @{hashing.MATCH_BITS} | plain PDQ median |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Unrelated pairs ({n_pairs} ordered pairs, full window/dihedral search; the 4 seeingdark real/fake "
        "pairs that are one photograph are left out, and found by every method): best distance min "
        f"{min(unrelated)}, p0.1 {_pct(unrelated, 0.1):.0f}, p1 {_pct(unrelated, 1):.0f}, "
        f"median {_pct(unrelated, 50):.0f}; pairs ≤ {hashing.MATCH_BITS} bits: "
        f"**{sum(d <= hashing.MATCH_BITS for d in unrelated)}**. "
        f"Plain PDQ: min {min(plain_unrelated)}, p1 {_pct(plain_unrelated, 1):.0f}, median "
        f"{_pct(plain_unrelated, 50):.0f}.",
        "",
        f"images/pdq_variants: {pv_hits}/{len(edits)} edits match bridge-1-original; false matches against "
        f"the {len(paths)} other pictures: {pv_false}.",
        "",
        "| edit | distance | matched by | plain PDQ distance |",
        "|---|---|---|---|",
        *pv_rows,
        "",
        f"Hashing speed (median of {runs} runs over 40 decoded pictures, one core): bank side "
        f"{statistics.median(bank_times):.1f} images/s, query side {statistics.median(query_times):.0f} "
        f"images/s, plain PDQ at full size {statistics.median(plain_times):.0f} images/s.",
    ]
    figures["unrelated min"] = min(unrelated)
    figures["unrelated false"] = sum(d <= hashing.MATCH_BITS for d in unrelated)
    return "\n".join(body), figures


def video_section() -> str:
    paths = sorted((media_dir() / "video" / "tmk_variants").glob("*.mp4"))
    t0 = time.perf_counter()
    banked = [vh.video_hashes(p, "bank") for p in paths]
    t1 = time.perf_counter()
    hashes = [vh.video_hashes(p, "query") for p in paths]
    t2 = time.perf_counter()
    names = [p.stem for p in paths]
    header = "| | " + " | ".join(f"{i}" for i in range(len(paths))) + " |"
    lines = [header, "|---" * (len(paths) + 1) + "|"]
    wrong = 0
    for i, a in enumerate(hashes):
        cells = []
        for j, b in enumerate(banked):
            score, _ = vh.video_distance(a, b)
            m = score <= vh.MATCH_DISTANCE
            related = names[i].split("-")[0] == names[j].split("-")[0] and names[i].split("-")[0] in {
                "chair",
                "pattern",
            }
            related = related or i == j
            wrong += m != related
            cells.append(f"{'**' if m else ''}{score:.2f}{'**' if m else ''}")
        lines.append(f"| {i} {names[i]} | " + " | ".join(cells) + " |")
    return "\n".join(
        [
            f"### Video: tmk_variants, query (row) against bank (column); distance = 1 - share of matched "
            f"keyframes; bold = match (≤ {vh.MATCH_DISTANCE})",
            "",
            f"Keyframes every {vh.QUERY_EVERY_S} s (query) / {vh.BANK_EVERY_S} s (bank), bars trimmed, "
            f"windowed PDQ per frame (frame match ≤ {vh.FRAME_BITS} bits). Wrong cells (match between "
            f"unrelated, or miss between chair-*/pattern-* versions): **{wrong}**. Hashing {len(paths)} videos "
            f"(decode included): bank side {t1 - t0:.1f} s, query side {t2 - t1:.1f} s.",
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
    unrelated = [
        af.audio_distance(prints[i], prints[j])[0] for i in range(len(paths)) for j in range(len(paths)) if i != j
    ]
    dists: dict[str, list[float]] = {}
    for s, p in zip(samples, prints, strict=True):
        for name, copy in audio_variants(s, rate).items():
            dists.setdefault(name, []).append(af.audio_distance(af.fingerprint(copy, rate), p)[0])
    rows = []
    for name, ds in dists.items():
        rec = sum(d <= af.MATCH_BER for d in ds) / len(ds)
        rows.append(f"| {name} | {len(ds)} | **{rec:.3f}** | {statistics.median(ds):.3f} / {max(ds):.3f} |")
    return "\n".join(
        [
            f"### Audio: {len(paths)} voice_clone clips (18 Trump mp3 + every 4th LibriSpeech flac), first 60 s",
            "",
            f"Haitsma–Kalker sub-fingerprints; distance = bit error rate at the best alignment; match ≤ "
            f"{af.MATCH_BER}. Fingerprinting {seconds:.0f} s of audio took {dt:.1f} s (decode included).",
            "",
            "| copy | n | recall | BER median / max |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Shortest clip: {min(len(s) for s in samples) / rate:.1f} s (a trim can leave a clip that short "
            "with nothing to compare: a miss, not a false match).",
            "",
            f"Unrelated ordered pairs ({len(unrelated)}; 1.0 where no alignment was found at all): BER min "
            f"{min(unrelated):.3f}, p1 "
            f"{_pct(unrelated, 1):.3f}, median {_pct(unrelated, 50):.3f}; matches: "
            f"**{sum(d <= af.MATCH_BER for d in unrelated)}**.",
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
        parts.append(image_section(args.runs)[0])
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
