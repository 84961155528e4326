"""Plug-in detectors: a tiny TorchScript model in tmp_path and a local http.server endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from flockwatch.media.detectors import HttpDetector, TorchScriptDetector, load_detectors
from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import MediaFile, MediaSignal, Tier
from flockwatch.media.sniff import open_media

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.save` is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"),
]


class MeanBrightness(torch.nn.Module):
    """Logit = 4·(mean pixel − 0.5): bright images score high, so the expected score is known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.mean(dim=(1, 2, 3)) - 0.5) * 4.0


@pytest.fixture
def scripted(tmp_path: Path) -> Path:
    path = tmp_path / "bright.pt"
    torch.jit.save(torch.jit.script(MeanBrightness()), str(path))
    return path


def _image(tmp_path: Path, value: int, name: str = "img.png", size: tuple[int, int] = (40, 30)) -> MediaFile:
    p = tmp_path / name
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(p)
    return open_media(p)


def test_torchscript_scores_with_sigmoid(scripted: Path, tmp_path: Path) -> None:
    det = TorchScriptDetector("bright", scripted, ["image"], (16, 16))
    assert isinstance(det, MediaSignal)
    assert det.tier is Tier.learned
    white, black = det.compute(_image(tmp_path, 255, "w.png")), det.compute(_image(tmp_path, 0, "b.png"))
    assert white is not None and black is not None
    assert white.score == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-5)
    assert black.score == pytest.approx(1 / (1 + np.exp(2.0)), abs=1e-5)
    assert white.signal == "bright" and "bright.pt" in white.detail


def test_torchscript_applies_to_configured_kinds(scripted: Path, tmp_path: Path) -> None:
    det = TorchScriptDetector("bright", scripted, ["image"])
    img = _image(tmp_path, 10)
    assert det.applies_to(img)
    assert not det.applies_to(MediaFile(tmp_path / "x.mp4", "video", "video/mp4", "0", 1))
    with pytest.raises(ValueError):
        TorchScriptDetector("bright", scripted, ["audio"])
    with pytest.raises(ValueError):
        TorchScriptDetector("bright", scripted, ["text"])


def test_torchscript_missing_weights_fail_at_configuration(tmp_path: Path) -> None:
    with pytest.raises((RuntimeError, ValueError, OSError)):
        TorchScriptDetector("none", tmp_path / "missing.pt")


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, int]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        _Handler.seen.append((self.path, self.headers.get("Content-Type", ""), len(body)))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.end_headers()
            return
        replies: dict[str, Any] = {
            "/ok": {"score": 0.75, "detail": "endpoint says 0.75"},
            "/bad-score": {"score": 3.0},
            "/no-score": {"detail": "?"},
        }
        payload = json.dumps(replies.get(self.path, {})).encode() if self.path != "/not-json" else b"<html>"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    _Handler.seen.clear()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_http_detector_posts_bytes_with_mime(server: str, tmp_path: Path) -> None:
    media = _image(tmp_path, 128)
    det = HttpDetector("api", server + "/ok", ["image"], timeout=5)
    assert isinstance(det, MediaSignal)
    f = det.compute(media)
    assert f is not None and f.score == 0.75 and f.detail == "endpoint says 0.75" and f.tier is Tier.learned
    assert _Handler.seen == [("/ok", "image/png", media.size)]


def test_http_detector_does_not_follow_redirects(server: str, tmp_path: Path) -> None:
    det = HttpDetector("api", server + "/redirect", timeout=5)
    with pytest.raises(MediaRefused, match="302"):
        det.compute(_image(tmp_path, 1))
    assert [s[0] for s in _Handler.seen] == ["/redirect"]  # /ok never called


@pytest.mark.parametrize("path", ["/bad-score", "/no-score", "/not-json"])
def test_http_detector_rejects_bad_replies(server: str, tmp_path: Path, path: str) -> None:
    with pytest.raises(MediaRefused):
        HttpDetector("api", server + path, timeout=5).compute(_image(tmp_path, 1))


def test_http_detector_unreachable(tmp_path: Path) -> None:
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens there now
    with pytest.raises(MediaRefused, match="unreachable"):
        HttpDetector("api", f"http://127.0.0.1:{port}/ok", timeout=2).compute(_image(tmp_path, 1))


def test_load_detectors_builds_both(scripted: Path, server: str) -> None:
    dets = load_detectors(
        [
            {"type": "torchscript", "name": "mine", "path": str(scripted), "input_size": 32},
            {"type": "http", "name": "api", "url": server + "/ok", "kinds": ["image", "video"], "timeout": 3},
        ]
    )
    assert isinstance(dets[0], TorchScriptDetector) and dets[0].input_size == (32, 32)
    assert isinstance(dets[1], HttpDetector) and dets[1].kinds == {"image", "video"} and dets[1].timeout == 3.0


@pytest.mark.parametrize(
    "spec",
    [
        [{"type": "onnx", "name": "x", "path": "m"}],
        [{"type": "http", "name": "x"}],
        [{"type": "torchscript", "name": "x"}],
        [{"type": "http", "url": "http://h"}],
        [{"type": "http", "name": "x", "url": "file:///etc/passwd"}],
        [{"type": "http", "name": "x", "url": "http://h"}, {"type": "http", "name": "x", "url": "http://h"}],
    ],
)
def test_load_detectors_rejects_bad_specs(spec: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError):
        load_detectors(spec)
