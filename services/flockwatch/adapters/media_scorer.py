"""Wiring: the scorer the CLI, the worker and the Airflow task use, built from ``Settings``.

Signals, strongest evidence first: C2PA provenance, generator metadata, bank matches (a local bank
directory and/or the store's banks), the learned detectors Flockwatch ships, then user detectors
from ``media_detectors_file``. Heavy models load lazily inside each signal, on first use.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path
from typing import TYPE_CHECKING

from flockwatch.config import Settings
from flockwatch.media import decode
from flockwatch.media.score import Fetcher, MediaScorer
from flockwatch.media.signal import MediaFile, MediaSignal

if TYPE_CHECKING:
    from flockwatch.media.bank import Bank


def fetcher_for(settings: Settings) -> Fetcher:
    """URL → cached local MediaFile through the guarded fetcher (video platforms via yt-dlp)."""
    from flockwatch.adapters.media_fetch import FetchPolicy, fetch_media
    from flockwatch.adapters.video_platforms import fetch_video, is_video_platform_url

    allowed = frozenset(
        ipaddress.ip_network(n.strip(), strict=False) for n in settings.media_allow_networks.split(",") if n.strip()
    )
    policy = FetchPolicy(allow_addresses=allowed, cache_max_bytes=settings.media_cache_max_bytes)
    cache = settings.media_cache

    def fetch(url: str) -> MediaFile:
        # The item's deadline runs from the fetch on (media.score): a slow server must not take longer than the
        # whole item may, or the media stage's batches (sized from that deadline) outlast the poll interval.
        left = decode.time_left()
        bounded = policy if left is None else dataclasses.replace(policy, deadline_s=min(policy.deadline_s, left))
        if is_video_platform_url(url):
            return fetch_video(url, cache, bounded)
        return fetch_media(url, cache, bounded)

    return fetch


def load_store_bank(settings: Settings) -> Bank | None:
    """The store's banks as one in-memory bank (``flockwatch bank push`` puts them there)."""
    from flockwatch.media.bank import Bank
    from flockwatch.store import open_store

    records = open_store(settings).banks.items()
    return Bank.from_records(records) if records else None


def user_detectors(path: Path) -> list[MediaSignal]:
    from flockwatch.media.detectors import load_detectors

    spec = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(spec, list):
        raise ValueError(f"{path}: expected a JSON list of detector specs")
    return list(load_detectors(spec))


def build_signals(settings: Settings, bank: Bank | None = None) -> list[MediaSignal]:
    from flockwatch.media.bank import Bank, BankMatchSignal
    from flockwatch.media.face_video import FaceVideoSignal
    from flockwatch.media.lip_sync import LipSyncSignal
    from flockwatch.media.metadata import GeneratorMetadataSignal
    from flockwatch.media.provenance import C2paSignal
    from flockwatch.media.synthetic_image import SyntheticImageSignal
    from flockwatch.media.voice_clone import VoiceCloneSignal

    signals: list[MediaSignal] = [C2paSignal(settings.media_trust_anchors), GeneratorMetadataSignal()]
    if settings.media_bank_dir is not None:
        signals.append(BankMatchSignal(Bank(settings.media_bank_dir)))
    if bank is not None:
        signals.append(BankMatchSignal(bank))
    signals += [SyntheticImageSignal(), FaceVideoSignal(), VoiceCloneSignal(), LipSyncSignal()]
    if settings.media_detectors_file is not None:
        signals += user_detectors(settings.media_detectors_file)
    return signals


def build_scorer(
    settings: Settings, *, fetch: bool = True, store_bank: bool = True, local_files: bool = False
) -> MediaScorer:
    """``local_files`` lets plain paths be read: only the CLI sets it, never the worker or the DAG."""
    bank = load_store_bank(settings) if store_bank else None
    return MediaScorer(build_signals(settings, bank), fetcher_for(settings) if fetch else None, local_files=local_files)
