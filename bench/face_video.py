"""Face-video detector (Self-Blended Images, Shiohara & Yamasaki CVPR 2022) on the FF++/DFDC smoke clips.

A smoke test, not a measured accuracy: a few real and manipulated clips. For each clip it runs the shipped
``FaceVideoSignal`` end to end (decode at the signal's rate up to its frame cap, MTCNN, CNN, top-third mean) and
reports the score, the faces it rests on and the time. The held-out figure comes from ``models/face_video/metrics.json``
(``flockwatch train face-video``): leave-one-identity-out folds, each (real, fake) pair scored by a
model that saw neither identity. The shipped model was trained on the originals, so its own scores on them
are training scores and no AUROC is computed from them.

    python -m bench.face_video [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench.report import write_section
from flockwatch.config import Settings
from flockwatch.media.face_video import MODEL_DIR, FaceVideoSignal
from flockwatch.media.sniff import open_media
from flockwatch.training.face import clips, ffpp_pairs, held_out_scores


def video_seconds(path: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        return float(cap.get(cv2.CAP_PROP_FRAME_COUNT) / fps)
    finally:
        cap.release()


def run(repeats: int) -> dict[str, Any]:
    signal = FaceVideoSignal()
    all_clips = clips(Settings().data_dir)
    t0 = time.perf_counter()
    signal.compute(open_media(all_clips[0].path))  # loads MTCNN and the CNN once; not in the per-clip times
    load_s = time.perf_counter() - t0
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    held = held_out_scores(metrics)
    rows = []
    for c in all_clips:
        media = open_media(c.path)
        times, decode, finding = [], [], None
        for _ in range(repeats):
            t = time.perf_counter()
            finding = signal.compute(media)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            signal.frames(media)
            decode.append(time.perf_counter() - t)
        analysed = min(video_seconds(c.path), signal.every_s * signal.max_frames)
        h = held.get(c.name)
        rows.append(
            {
                "clip": c.name,
                "method": c.method,
                "label": "fake" if c.label else "real",
                "score": None if finding is None else finding.score,
                "crops": 0 if finding is None else finding.data["crops"],
                "frames": 0 if finding is None else finding.data["frames_sampled"],
                "faces_in": 0 if finding is None else finding.data["frames_with_face"],
                "trained_on": c.label == 0,
                "held_out_score": statistics.mean(h) if h else None,
                "seconds": statistics.median(times),
                "decode_s": statistics.median(decode),
                "analysed_s": analysed,
            }
        )
    return {
        "rows": rows,
        "load_s": load_s,
        "metrics": metrics,
        "every_s": signal.every_s,
        "max_frames": signal.max_frames,
    }


def report(res: dict[str, Any], repeats: int) -> str:
    rows, m = res["rows"], res["metrics"]
    n_real = sum(r["label"] == "real" for r in rows)
    by_source = {
        "FF++ originals": n_real,
        "FF++ manipulations": sum(r["label"] == "fake" and r["method"] != "DFDC" for r in rows),
        "DFDC fakes": sum(r["method"] == "DFDC" for r in rows),
    }
    celeba = m["training_crops"].get("celeba_images", 0)
    lines = [
        f"Smoke test on {len(rows)} clips ({', '.join(f'{n} {k}' for k, n in by_source.items())}): not a measured "
        "accuracy.",
        f"The shipped model was trained (self-supervised, Self-Blended Images) on real faces of the {n_real} "
        f"originals and {celeba} CelebA stills; no manipulated clip was ever trained on. *Held-out score*: from the "
        "leave-one-identity-out fold model that saw neither the clip's identity nor its original (mean over folds "
        "for clips of identities no fold trains on).",
        "",
        "| clip | method | label | shipped score | held-out score | face crops | frames with face / sampled "
        "| s / clip (decode) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        score = (
            "none (no face)"
            if r["score"] is None
            else f"{r['score']:.3f}" + (" (trained on)" if r["trained_on"] else "")
        )
        held = "" if r["held_out_score"] is None else f"{r['held_out_score']:.3f}"
        lines.append(
            f"| {r['clip']} | {r['method']} | {r['label']} | {score} | {held} | {r['crops']} | "
            f"{r['faces_in']} / {r['frames']} | {r['seconds']:.2f} ({r['decode_s']:.2f}) |"
        )
    h = m.get("held_out_auroc")
    if h:
        ffpp = ffpp_pairs(m)
        lines += [
            "",
            f"Held-out AUROC (video level): **{h['value']:.3f}** over {h['pairs']} (real, fake) pairs from "
            f"{h['reals']} real clips; each pair is scored by the fold model that trained on neither identity "
            f"(`models/face_video/metrics.json`). With {h['reals']} reals one pair moves it by {1 / h['pairs']:.3f}: "
            "a smoke check, not a rate.",
            f"Within FF++ only (same source, so no dataset shift between real and fake): {ffpp[0]} of {ffpp[1]} "
            f"held-out pairs ranked right. The {h['pairs'] - ffpp[1]} other pairs set an FF++ original against a "
            "DFDC fake: there is no DFDC real clip here, so those may reward dataset shift (camera, lighting, "
            "resolution) as much as manipulation.",
            "Self-blend AUROC on the held-out identity's own crops (pretext task, crop level): "
            + ", ".join(f"{f['held_out']} {f['sbi_auroc_held_out_identity']:.3f}" for f in m["folds"])
            + ".",
        ]
    total_s = sum(r["seconds"] for r in rows)
    decode_s = sum(r["decode_s"] for r in rows)
    total_min = sum(r["analysed_s"] for r in rows) / 60
    every_s, max_frames = res["every_s"], res["max_frames"]
    lines += [
        "",
        f"Cost (decode every {every_s:g} s up to {max_frames} frames + MTCNN + CNN, torch on one thread, median of "
        f"{repeats} runs): **{total_s / total_min:.1f} s per minute of analysed video** ({total_s:.1f} s for "
        f"{total_min:.1f} min over the {len(rows)} clips; only the first {every_s * max_frames:g} s of a longer "
        f"video are analysed). Loading MTCNN and the CNN once: {res['load_s']:.1f} s (not in the times above). "
        f"Decoding alone takes {decode_s:.1f} s of the {total_s:.1f} s (OpenCV grabs every frame to reach the "
        "sampled ones). The machine is shared with other jobs, so times are noisy.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Face-video detector smoke benchmark")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    body = report(run(args.repeats), args.repeats)
    print(body)
    if not args.no_write:
        write_section("Face-video detector", f"python -m bench.face_video --repeats {args.repeats}", body)


if __name__ == "__main__":
    main()
