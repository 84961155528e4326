"""Burst detection on real IRA 2016 hashtag streams: injected bursts (recall, precision, delay) and real bursts.

Part 1, injection. The background is every real IRA 2016 tweet (241,947, Oct-Nov 2016) with its real
timestamp; an entity is a hashtag. Each trial picks a real hashtag with a sparse background (5-300 posts
over the two months) and a time when the streaming detector raises nothing for it within ±12 h on the
clean stream, then adds ``size`` posts of that hashtag at uniform random times within ``duration``.
Controls add the same number of posts to other hashtags spread over 7 days (a diffuse rise, not a burst).
The streaming detector (``BurstTracker`` with the default detector config and the default
``entity-burst`` rule threshold) then runs over the whole stream, polled once per minute of event time
as a live worker would. An *alert* is what that rule raises: detections of one entity less than its
dedupe window (6 h) apart update one alert. Alerts that overlap (±1 h) an alert of the same hashtag on
the clean stream (real IRA bursts) are neither true nor false positives.

- true positive: a new alert of an injected hashtag with a detection within [t0, t0 + duration + 1 h];
  its detection delay is (first detection − t0);
- false positive: any other new alert (an injected hashtag outside its window, a control hashtag, or
  any other hashtag: the added posts raise the totals and so move every baseline a little, which can
  tip a real borderline burst over the threshold; those count as false positives too).

Trials run in passes whose injection windows do not overlap, so one trial's posts barely move another's
totals. Part 2 replays the stream with its real timestamps through Kleinberg's batch Viterbi (15-minute
bins, p0 = R/D per hashtag over the two months) and lists the strongest real bursts and those on the
debate and election nights (bursts starting from 12 h before to 2 h after each event).

    python -m bench.bursts --trials-per-combo 20 --seed 0
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.report import write_section
from flockwatch.alerts.bursts import Burst, BurstConfig, BurstTracker, build_series, detect_bursts
from flockwatch.alerts.engine import hashtag_entity
from flockwatch.alerts.rules import AlertsConfig, default_config
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset

Row = tuple[float, str, list[str]]  # (unix seconds, post key, entities)
HOUR = 3600.0
SIZES = (12, 20, 40, 80)
# The headline recall is over bursts of at least this many posts; 12-post bursts sit at the detection
# limit of the default rule (≥ 10 posts and Kleinberg weight ≥ 15, ≈ 1.1 per post less the entry cost).
HEADLINE_MIN_SIZE = 20
DURATIONS_H = (1.0, 3.0)
GRACE_S = HOUR
QUIET_S = 12 * HOUR
CONTROL_SPREAD_S = 7 * 24 * HOUR


# Real events of the campaign, UTC (the release's publish_date is UTC: #debatenight peaks 01-02 UTC on 20 Oct,
# i.e. 9-10 pm Eastern on the night of the third debate).
def _utc(month: int, day: int, hour: int) -> datetime:
    return datetime(2016, month, day, hour, tzinfo=UTC)


EVENTS: dict[str, tuple[datetime, datetime]] = {
    "vice-presidential debate (4 Oct, 9 pm ET)": (_utc(10, 5, 1), _utc(10, 5, 3)),
    "second presidential debate (9 Oct, 9 pm ET)": (_utc(10, 10, 1), _utc(10, 10, 3)),
    "third presidential debate (19 Oct, 9 pm ET)": (_utc(10, 20, 1), _utc(10, 20, 3)),
    "election night (8 Nov, 7 pm - 3 am ET)": (_utc(11, 9, 0), _utc(11, 9, 8)),
}


@dataclass
class Trial:
    entity: str
    t0: float
    size: int
    duration_s: float
    control: bool = False
    detected_at: float | None = None
    times: list[float] = field(default_factory=list)

    @property
    def window(self) -> tuple[float, float]:
        if self.control:
            return self.t0, self.t0 + CONTROL_SPREAD_S
        return self.t0, self.t0 + self.duration_s


def load_rows() -> list[Row]:
    rows: list[Row] = []
    seen: set[str] = set()
    for raw in read_dataset("ira_2016", None, Settings().data_dir):
        try:
            post = normalize_record(raw)
        except ValueError:
            continue
        if post is None or post.key in seen:
            continue
        seen.add(post.key)
        rows.append((post.created_at.timestamp(), post.key, [hashtag_entity(h) for h in post.hashtags]))
    rows.sort(key=lambda r: r[0])
    return rows


def detections(rows: Iterable[Row], config: AlertsConfig, threshold: float) -> dict[str, list[float]]:
    """Stream ``rows`` through the tracker, polling once per event-time minute as a worker would."""
    tracker = BurstTracker(config.detector)
    found: dict[str, list[float]] = defaultdict(list)
    minute: int | None = None
    last = 0.0
    for ts, key, entities in rows:
        m = int(ts // 60)
        if minute is not None and m != minute:
            for b in tracker.bursting():
                if b.weight >= threshold:
                    found[b.entity].append(last)
        minute = m
        last = ts
        tracker.add(datetime.fromtimestamp(ts, UTC), key, entities)
    for b in tracker.bursting():
        if b.weight >= threshold:
            found[b.entity].append(last)
    return found


EPISODE_GAP_S = 6 * HOUR  # the default entity-burst rule's dedupe window (checked in main)


def episodes(times: Sequence[float], gap: float = EPISODE_GAP_S) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for t in sorted(times):
        if out and t - out[-1][1] < gap:
            out[-1] = (out[-1][0], t)
        else:
            out.append((t, t))
    return out


def overlaps(ep: tuple[float, float], others: Sequence[tuple[float, float]], margin: float = HOUR) -> bool:
    return any(a - margin <= ep[1] and ep[0] <= b + margin for a, b in others)


def entity_counts(rows: Sequence[Row]) -> Counter[str]:
    return Counter(e for _, _, ents in rows for e in ents)


def plan_trials(
    rows: Sequence[Row], clean: dict[str, list[float]], per_combo: int, rng: random.Random
) -> tuple[list[list[Trial]], list[Trial]]:
    counts = entity_counts(rows)
    candidates = sorted(e for e, n in counts.items() if 5 <= n <= 300)
    rng.shuffle(candidates)
    start, end = rows[0][0] + 2 * 24 * HOUR, rows[-1][0] - 2 * 24 * HOUR
    clean_eps = {e: episodes(t) for e, t in clean.items()}
    pool = iter(candidates)
    trials: list[Trial] = []
    for size in SIZES:
        for dur_h in DURATIONS_H:
            made = 0
            while made < per_combo:
                entity = next(pool)
                t0 = rng.uniform(start, end - dur_h * HOUR)
                if overlaps((t0, t0 + dur_h * HOUR), clean_eps.get(entity, []), QUIET_S):
                    continue
                trials.append(Trial(entity, t0, size, dur_h * HOUR))
                made += 1
    controls = []
    for size in SIZES:
        for _ in range(per_combo):
            entity = next(pool)
            t0 = rng.uniform(start, end - CONTROL_SPREAD_S)
            controls.append(Trial(entity, t0, size, CONTROL_SPREAD_S, control=True))
    # passes: injection windows (plus a day of margin) never overlap within a pass
    passes: list[list[Trial]] = []
    for trial in sorted(trials, key=lambda t: t.t0):
        for p in passes:
            if all(abs(trial.t0 - o.t0) > 24 * HOUR for o in p):
                p.append(trial)
                break
        else:
            passes.append([trial])
    return passes, controls


def inject(rows: Sequence[Row], trials: Sequence[Trial], rng: random.Random) -> list[Row]:
    extra: list[Row] = []
    for i, trial in enumerate(trials):
        a, b = trial.window
        trial.times = sorted(rng.uniform(a, b) for _ in range(trial.size))
        extra.extend((t, f"injected:{i}:{j}", [trial.entity]) for j, t in enumerate(trial.times))
    extra.sort(key=lambda r: r[0])
    return list(heapq.merge(rows, extra, key=lambda r: r[0]))


def score_pass(
    trials: Sequence[Trial], found: dict[str, list[float]], clean: dict[str, list[float]]
) -> tuple[int, list[str]]:
    """Mark detected trials; return (true positives, descriptions of false-positive episodes)."""
    by_entity = {t.entity: t for t in trials}
    tp = 0
    false: list[str] = []
    for entity, times in found.items():
        clean_eps = episodes(clean.get(entity, []))
        for ep in episodes(times):
            if overlaps(ep, clean_eps):
                continue  # a real burst also seen on the clean stream
            trial = by_entity.get(entity)
            if trial is not None and not trial.control:
                a, b = trial.window
                hits = [t for t in times if a <= t <= b + GRACE_S and ep[0] <= t <= ep[1]]
                if hits and trial.detected_at is None:
                    trial.detected_at = hits[0]
                    tp += 1
                    continue
            kind = "control" if trial is not None else "other hashtag"
            false.append(f"{entity} ({kind}) at {datetime.fromtimestamp(ep[0], UTC):%Y-%m-%d %H:%M}")
    return tp, false


def quantile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def injection_benchmark(
    rows: list[Row], config: AlertsConfig, threshold: float, per_combo: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    t = time.monotonic()
    clean = detections(rows, config, threshold)
    clean_s = time.monotonic() - t
    passes, controls = plan_trials(rows, clean, per_combo, rng)
    passes[0] = passes[0] + controls
    tp_total = 0
    false: list[str] = []
    for trials in passes:
        found = detections(inject(rows, trials, rng), config, threshold)
        tp, fp = score_pass(trials, found, clean)
        tp_total += tp
        false.extend(fp)
    trials = [t for p in passes for t in p if not t.control]
    per_combo_rows = []
    for size in SIZES:
        for dur_h in DURATIONS_H:
            group = [t for t in trials if t.size == size and t.duration_s == dur_h * HOUR]
            hit = [t for t in group if t.detected_at is not None]
            delays = [(t.detected_at - t.t0) / 60 for t in hit if t.detected_at is not None]
            per_combo_rows.append(
                {
                    "size": size,
                    "duration_h": dur_h,
                    "trials": len(group),
                    "recall": len(hit) / len(group),
                    "delay_median_min": statistics.median(delays) if delays else None,
                    "delay_p90_min": quantile(delays, 0.9) if delays else None,
                }
            )
    headline = [t for t in trials if t.size >= HEADLINE_MIN_SIZE]
    tp_headline = sum(t.detected_at is not None for t in headline)
    delays = [(t.detected_at - t.t0) / 60 for t in headline if t.detected_at is not None]
    clean_eps = sum(len(episodes(v)) for v in clean.values())
    days = (rows[-1][0] - rows[0][0]) / 86400
    return {
        "trials": len(trials),
        "headline_trials": len(headline),
        "controls": len(controls),
        "passes": len(passes),
        "true_positives": tp_total,
        "false_positives": len(false),
        "false_positive_examples": false[:10],
        "recall": tp_headline / len(headline),
        "recall_all_sizes": tp_total / len(trials),
        "precision": tp_total / (tp_total + len(false)) if tp_total + len(false) else 1.0,
        "delay_median_min": statistics.median(delays),
        "delay_p90_min": quantile(delays, 0.9),
        "per_combo": per_combo_rows,
        "clean_alert_episodes": clean_eps,
        "clean_alert_episodes_per_day": clean_eps / days,
        "stream_pass_s": round(clean_s, 1),
    }


def real_bursts(rows: list[Row], detector: BurstConfig, threshold: float) -> dict[str, Any]:
    counts = entity_counts(rows)
    keep = {e for e, n in counts.items() if n >= 20}
    start = datetime.fromtimestamp(rows[0][0], UTC).replace(hour=0, minute=0, second=0)
    end = datetime.fromtimestamp(rows[-1][0], UTC) + timedelta(minutes=15)
    series = build_series(
        ((datetime.fromtimestamp(ts, UTC), key, [e for e in ents if e in keep]) for ts, key, ents in rows),
        start,
        end,
        detector.bin,
        keep_post_keys=0,
    )
    bursts = [b for b in detect_bursts(series, detector) if b.weight >= threshold]
    top = bursts[:30]
    events = {}
    for name, (a, b) in EVENTS.items():
        near = [x for x in bursts if a - timedelta(hours=12) <= x.start <= b + timedelta(hours=2)]
        events[name] = sorted(near, key=lambda x: -x.weight)[:8]

    def row(b: Burst) -> dict[str, Any]:
        return {
            "hashtag": b.entity.removeprefix("hashtag:"),
            "start": f"{b.start:%Y-%m-%d %H:%M}",
            "end": f"{b.end:%Y-%m-%d %H:%M}",
            "posts": b.posts,
            "weight": round(b.weight, 1),
            "baseline_per_h": round(b.baseline_rate, 2),
            "observed_per_h": round(b.observed_rate, 1),
        }

    return {
        "bursts": len(bursts),
        "hashtags_with_bursts": len({b.entity for b in bursts}),
        "top": [row(b) for b in top],
        "events": {k: [row(b) for b in v] for k, v in events.items()},
    }


def table(rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> str:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join("" if r.get(c) is None else str(r[c]) for c in cols) + " |")
    return "\n".join(out)


def report_body(inj: dict[str, Any], real: dict[str, Any], per_combo: int, seed: int, threshold: float) -> str:
    combos = [
        {
            **c,
            "recall": f"{c['recall']:.2f}",
            "delay_median_min": None if c["delay_median_min"] is None else f"{c['delay_median_min']:.0f}",
            "delay_p90_min": None if c["delay_p90_min"] is None else f"{c['delay_p90_min']:.0f}",
        }
        for c in inj["per_combo"]
    ]
    top = real["top"][:15]
    lines = [
        "Streaming detector (`BurstTracker`, default detector config: 15-min bins, s = 3, γ = 1, "
        f"τ = γ ln 96, baseline half-life 24 h) with the default `entity-burst` threshold (weight ≥ {threshold:g}), "
        "polled once per event-time minute, over all 241,947 real IRA 2016 tweets with their real timestamps. "
        f"{inj['trials']} injected bursts ({per_combo} per size × duration) into real sparse hashtag streams "
        f"(5-300 posts over two months) at times quiet for that hashtag, and {inj['controls']} controls (the same "
        f"sizes spread over 7 days on other hashtags); {inj['passes']} passes, seed {seed}. "
        "Method and definitions: `bench/bursts.py` docstring.",
        "",
        f"**Recall {inj['recall']:.2f} on bursts of ≥ {HEADLINE_MIN_SIZE} posts ({inj['headline_trials']} trials), "
        f"precision {inj['precision']:.2f}** ({inj['true_positives']} detected of all {inj['trials']}, "
        f"{inj['false_positives']} false alerts); detection delay for bursts of ≥ {HEADLINE_MIN_SIZE} posts: "
        f"median {inj['delay_median_min']:.0f} min, p90 {inj['delay_p90_min']:.0f} min after the first injected post. "
        f"With the 12-post bursts at the detection limit, recall is {inj['recall_all_sizes']:.2f}.",
        "",
        table(combos, ["size", "duration_h", "trials", "recall", "delay_median_min", "delay_p90_min"]),
        "",
        f"On the clean stream the rule raises {inj['clean_alert_episodes']} alerts "
        f"({inj['clean_alert_episodes_per_day']:.1f} per day): real IRA bursts, counted neither way above. "
        f"One streaming pass over the 241,947 posts takes {inj['stream_pass_s']} s on this machine.",
    ]
    if inj["false_positive_examples"]:
        lines += ["", "False alerts (first 10): " + "; ".join(inj["false_positive_examples"]) + "."]
    lines += [
        "",
        f"Real bursts, batch Viterbi over the whole release ({real['bursts']} bursts with weight ≥ {threshold:g} on "
        f"{real['hashtags_with_bursts']} hashtags with ≥ 20 posts). Strongest 15 (UTC):",
        "",
        table(top, ["hashtag", "start", "end", "posts", "weight", "baseline_per_h", "observed_per_h"]),
    ]
    for name, found in real["events"].items():
        tags = ", ".join(f"{b['hashtag']} ({b['start'][5:]}, {b['posts']} posts, w {b['weight']})" for b in found[:6])
        lines += ["", f"- {name}: {tags or 'none'}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials-per-combo", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/benchmarks.md alone.")
    args = parser.parse_args(argv)
    config = default_config()
    rule = next(r for r in config.rules if r.name == "entity-burst")
    threshold = float(rule.when.gte or 0.0)
    assert rule.dedupe_window.total_seconds() == EPISODE_GAP_S, "episodes must follow the rule's dedupe window"
    rows = load_rows()
    inj = injection_benchmark(rows, config, threshold, args.trials_per_combo, args.seed)
    real = real_bursts(rows, config.detector, threshold)
    print(json.dumps({"injection": inj, "real": real}, indent=2, default=str))
    if not args.no_write:
        command = f"python -m bench.bursts --trials-per-combo {args.trials_per_combo} --seed {args.seed}"
        write_section("burst detection", command, report_body(inj, real, args.trials_per_combo, args.seed, threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
