"""The media cache's size bound: least recently used entries go, body and sidecar together."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from flockwatch.adapters.media_fetch import FetchPolicy, cache_path, fetch_media, sidecar_path
from flockwatch.media.cache import entries, evict, touch

HOUR = 3600.0


def _put(cache: Path, name: str, size: int, used_at: float, sidecar: int = 50) -> str:
    """An entry of ``size`` body bytes (+ a ``sidecar``-byte sidecar) last used at ``used_at``."""
    sha = hashlib.sha256(name.encode()).hexdigest()
    body = cache_path(cache, sha)
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_bytes(b"b" * size)
    side = sidecar_path(cache, sha)
    side.write_bytes(b"s" * sidecar)
    for p in (body, side):
        os.utime(p, (used_at, used_at))
    return sha


def _total(cache: Path) -> int:
    return sum(e.size for e in entries(cache))


def _present(cache: Path, sha: str) -> bool:
    body, side = cache_path(cache, sha).exists(), sidecar_path(cache, sha).exists()
    assert body == side, "body and sidecar must go together"
    return body


def test_over_the_bound_the_oldest_entries_go(tmp_path: Path) -> None:
    now = time.time()
    shas = [_put(tmp_path, f"e{i}", 1000, now - (10 - i) * HOUR) for i in range(10)]  # e0 oldest
    assert _total(tmp_path) == 10 * 1050
    report = evict(tmp_path, 5000, keep=shas[-1], now=now)
    # 10,500 bytes down to at most 5,000: the six oldest go (4 × 1,050 = 4,200 left).
    assert (report.before_bytes, report.after_bytes, report.evicted) == (10_500, 4_200, 6)
    assert [_present(tmp_path, s) for s in shas] == [False] * 6 + [True] * 4
    assert _total(tmp_path) == 4_200 <= 5000


def test_under_the_bound_nothing_goes(tmp_path: Path) -> None:
    now = time.time()
    shas = [_put(tmp_path, f"e{i}", 1000, now - (5 - i) * HOUR) for i in range(5)]
    assert evict(tmp_path, 5_250, now=now).evicted == 0
    assert all(_present(tmp_path, s) for s in shas)


def test_a_hit_refreshes_recency(tmp_path: Path) -> None:
    now = time.time()
    old, mid, new = (_put(tmp_path, n, 1000, now - h * HOUR) for n, h in (("old", 3), ("mid", 2), ("new", 1)))
    touch(cache_path(tmp_path, old), sidecar_path(tmp_path, old))  # used again just now
    evict(tmp_path, 2200, now=now + 2 * HOUR)  # room for two: the least recently used one goes
    assert (_present(tmp_path, old), _present(tmp_path, mid), _present(tmp_path, new)) == (True, False, True)


def test_the_entry_being_written_and_entries_in_use_stay(tmp_path: Path) -> None:
    now = time.time()
    writing = _put(tmp_path, "writing", 5000, now - 5 * HOUR)  # oldest, and alone over the bound
    in_use = _put(tmp_path, "in-use", 1000, now - 60)  # a minute ago: inside the 10-minute grace
    idle = _put(tmp_path, "idle", 1000, now - 2 * HOUR)
    report = evict(tmp_path, 1000, keep=writing, now=now)
    assert _present(tmp_path, writing) and _present(tmp_path, in_use) and not _present(tmp_path, idle)
    assert (report.evicted, report.kept_in_use, report.after_bytes) == (1, 2, 5050 + 1050)


def test_half_written_entries_and_temporary_files(tmp_path: Path) -> None:
    now = time.time()
    orphan = _put(tmp_path, "orphan", 1000, now - 9 * HOUR)
    cache_path(tmp_path, orphan).unlink()  # a sidecar whose body another worker removed
    tmp = tmp_path / orphan[:2] / f".{orphan}.json.123.tmp"
    tmp.write_bytes(b"t" * 10_000)  # a sidecar being written: never counted, never removed
    kept = _put(tmp_path, "kept", 1000, now - HOUR)
    evict(tmp_path, 1050, now=now)
    assert not sidecar_path(tmp_path, orphan).exists() and tmp.exists() and _present(tmp_path, kept)


def test_two_workers_evicting_at_once(tmp_path: Path) -> None:
    now = time.time()
    shas = [_put(tmp_path, f"e{i}", 500, now - (200 - i) * 60 - HOUR) for i in range(200)]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            evict(tmp_path, 20_000, now=now)
        except BaseException as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _total(tmp_path) <= 20_000
    left = [s for s in shas if _present(tmp_path, s)]
    assert left == shas[-len(left) :] and len(left) == 20_000 // 550  # only the most recent stayed


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5000), min_size=1, max_size=25),
    bound=st.integers(0, 60_000),
    data=st.data(),
)
def test_property_lru_prefix_and_bound(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], bound: int, data: st.DataObject
) -> None:
    cache = tmp_path_factory.mktemp("cache")
    now = time.time()
    ages = data.draw(st.lists(st.integers(0, 10_000), min_size=len(sizes), max_size=len(sizes), unique=True))
    shas = [_put(cache, f"e{i}", size, now - age * 60.0) for i, (size, age) in enumerate(zip(sizes, ages, strict=True))]
    keep = data.draw(st.sampled_from(shas))
    lru = sorted(shas, key=lambda s: ages[shas.index(s)], reverse=True)  # oldest first
    evict(cache, bound, keep=keep, grace_s=120.0, now=now)
    gone = [s for s in lru if not _present(cache, s)]
    stays = {keep} | {s for s in shas if ages[shas.index(s)] * 60.0 < 120.0}
    assert not (set(gone) & stays)
    evictable = [s for s in lru if s not in stays]
    assert gone == evictable[: len(gone)]  # the least recently used ones, in order
    total = _total(cache)
    if gone != evictable:  # it stopped early: only because the bound was met
        assert total <= bound
    else:  # everything evictable went: what is left is in use, or under the bound
        assert total <= bound or all(s in stays for s in shas if _present(cache, s))


# --- through the fetcher ----------------------------------------------------------------------------


def _jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


BODIES = {f"/{i}.jpg": _jpeg((40 * i, 200 - 30 * i, 90)) for i in range(4)}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = BODIES.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def base() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetcher_keeps_its_cache_under_the_bound(base: str, tmp_path: Path) -> None:
    per_entry = max(len(b) for b in BODIES.values()) + 400  # body + its JSON sidecar, roughly
    policy = FetchPolicy(
        allow_addresses=frozenset({ipaddress.ip_network("127.0.0.1/32")}),
        deadline_s=5.0,
        cache_max_bytes=3 * per_entry,
        cache_grace_s=0.0,
    )
    clock = time.time() - 10 * HOUR

    def fetch(path: str) -> str:
        nonlocal clock
        media = fetch_media(base + path, tmp_path, policy)
        clock += HOUR  # entries used an hour apart, oldest first
        for p in (media.path, sidecar_path(tmp_path, media.sha256)):
            if p.exists():
                os.utime(p, (clock, clock))
        return media.sha256

    first, second, third = fetch("/0.jpg"), fetch("/1.jpg"), fetch("/2.jpg")
    assert all(_present(tmp_path, s) for s in (first, second, third))
    assert fetch("/0.jpg") == first  # a hit: now the most recently used
    fourth = fetch("/3.jpg")  # over the bound: the least recently used (second) goes, not first
    assert (_present(tmp_path, first), _present(tmp_path, second)) == (True, False)
    assert _present(tmp_path, third) and _present(tmp_path, fourth)
    assert _total(tmp_path) <= 3 * per_entry
