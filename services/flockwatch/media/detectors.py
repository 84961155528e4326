"""User-supplied learned detectors behind the :class:`~flockwatch.media.signal.MediaSignal` contract.

Two ways to plug a model in without touching Flockwatch's code (the plug-in idea of python-threatexchange's
signal types):

- :class:`TorchScriptDetector`: local TorchScript weights (``torch.jit.save``); an image (or a video's first
  frame) is resized to ``input_size``, scaled to 0..1 as a 1×3×H×W float tensor, and the model's single
  output is read as a logit (sigmoid applied);
- :class:`HttpDetector`: the file's bytes are POSTed to the user's endpoint with ``Content-Type`` set to the
  sniffed mime; the reply must be JSON ``{"score": float in 0..1, "detail": str}``. Only the configured URL is
  called: redirects are refused, not followed, so an endpoint cannot bounce media to a third party.

Both are tier ``learned``: priors, outranked by provenance and bank matches in fusion.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import Finding, Kind, MediaFile, Tier

KINDS: Final[tuple[Kind, ...]] = ("image", "video", "audio")
MAX_REPLY_BYTES: Final = 64 * 1024
MAX_DETAIL_CHARS: Final = 500


def _kinds(kinds: Sequence[str]) -> frozenset[Kind]:
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {list(kinds)}")
    return frozenset(k for k in KINDS if k in kinds)


class TorchScriptDetector:
    """A local TorchScript model scoring images (and video first frames): one logit out, sigmoid applied."""

    tier = Tier.learned

    def __init__(
        self, name: str, path: Path | str, kinds: Sequence[str] = ("image",), input_size: tuple[int, int] = (224, 224)
    ) -> None:
        import torch

        self.name = name
        self.path = Path(path)
        self.kinds = _kinds(kinds)
        if "audio" in self.kinds:
            raise ValueError("TorchScriptDetector reads pixels: kinds may be image and/or video")
        self.input_size = (int(input_size[0]), int(input_size[1]))  # (height, width)
        # Loaded eagerly so a broken path fails at configuration, not on the first post.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # jit deprecation notice; TorchScript is the contract
            self._model = torch.jit.load(str(self.path), map_location="cpu")  # type: ignore[no-untyped-call]
        self._model.eval()

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind in self.kinds

    def _rgb(self, media: MediaFile) -> np.ndarray[Any, np.dtype[np.uint8]]:
        from flockwatch.media.decode import open_image, video_frames

        if media.kind == "video":
            return video_frames(media.path, max_frames=1)[0].rgb
        return np.asarray(open_image(media.path))

    def score_rgb(self, rgb: np.ndarray[Any, np.dtype[np.uint8]]) -> float:
        import torch
        from PIL import Image

        h, w = self.input_size
        im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).convert("RGB")
        arr = np.asarray(im.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        x = torch.from_numpy(arr.transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            out = self._model(x)
        logit = float(torch.as_tensor(out).reshape(-1)[0])
        if not math.isfinite(logit):
            raise ValueError(f"{self.name}: model returned {logit}")
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))

    def compute(self, media: MediaFile) -> Finding | None:
        try:
            rgb = self._rgb(media)
        except MediaRefused:
            return None
        score = self.score_rgb(rgb)
        return Finding.scored(
            self.name,
            score,
            f"{self.name} (TorchScript {self.path.name}): {score:.2f}",
            self.tier,
            {"model": self.name},
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx: we never follow it


class HttpDetector:
    """A user's HTTP scoring endpoint: POST the bytes, read ``{"score": float, "detail": str}``."""

    tier = Tier.learned

    def __init__(self, name: str, url: str, kinds: Sequence[str] = ("image",), timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{name}: url must be http(s), got {url!r}")
        self.name = name
        self.url = url
        self.kinds = _kinds(kinds)
        self.timeout = float(timeout)
        # No proxies from the environment and no redirects: the bytes go to the configured URL or nowhere.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind in self.kinds

    def compute(self, media: MediaFile) -> Finding | None:
        """A Finding from the endpoint's reply; raises MediaRefused with the reason when the endpoint fails."""
        req = urllib.request.Request(
            self.url, data=media.path.read_bytes(), method="POST", headers={"Content-Type": media.mime}
        )
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read(MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as e:
            raise MediaRefused(f"{self.name}: endpoint answered HTTP {e.code} (redirects are not followed)") from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise MediaRefused(f"{self.name}: endpoint unreachable: {e}") from e
        if len(raw) > MAX_REPLY_BYTES:
            raise MediaRefused(f"{self.name}: reply larger than {MAX_REPLY_BYTES} bytes")
        try:
            reply = json.loads(raw)
            score = float(reply["score"])
            detail = str(reply.get("detail", ""))[:MAX_DETAIL_CHARS]
        except (ValueError, KeyError, TypeError) as e:
            raise MediaRefused(f"{self.name}: reply is not JSON with a numeric 'score': {e}") from e
        if not 0.0 <= score <= 1.0:  # also rejects NaN
            raise MediaRefused(f"{self.name}: score {score} outside 0..1")
        detail = detail or f"{self.name}: {score:.2f}"
        return Finding.scored(self.name, score, detail, self.tier, {"endpoint": self.url})


def load_detectors(spec: Sequence[dict[str, Any]]) -> list[TorchScriptDetector | HttpDetector]:
    """Detectors from config dicts, e.g. ``{"type": "torchscript", "name": "mine", "path": "m.pt"}`` or
    ``{"type": "http", "name": "api", "url": "http://...", "kinds": ["image"], "timeout": 5}``."""
    out: list[TorchScriptDetector | HttpDetector] = []
    names: set[str] = set()
    for i, d in enumerate(spec):
        kind, name = d.get("type"), d.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"detector {i}: 'name' is required")
        if name in names:
            raise ValueError(f"detector {i}: duplicate name {name!r}")
        names.add(name)
        kinds = d.get("kinds", ["image"])
        if kind == "torchscript":
            if "path" not in d:
                raise ValueError(f"detector {name!r}: 'path' is required")
            size = d.get("input_size", (224, 224))
            size_t = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
            out.append(TorchScriptDetector(name, Path(d["path"]), kinds, size_t))
        elif kind == "http":
            if "url" not in d:
                raise ValueError(f"detector {name!r}: 'url' is required")
            out.append(HttpDetector(name, str(d["url"]), kinds, float(d.get("timeout", 10.0))))
        else:
            raise ValueError(f"detector {name!r}: unknown type {kind!r} (torchscript or http)")
    return out
