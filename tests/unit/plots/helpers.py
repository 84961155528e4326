"""Reading back what a plot drew: SVG groups by the gid the plots give their artists, and SVG text."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from PIL import Image

NS = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_000.0


def root(svg: bytes) -> ET.Element:
    return ET.fromstring(svg)


def group(svg: bytes, gid: str) -> ET.Element:
    found = [e for e in root(svg).iter(f"{NS}g") if e.get("id") == gid]
    assert len(found) == 1, f"{len(found)} groups with id {gid!r}"
    return found[0]


def has_group(svg: bytes, gid: str) -> bool:
    return any(e.get("id") == gid for e in root(svg).iter(f"{NS}g"))


def markers(svg: bytes, gid: str) -> int:
    """Markers a scatter drew: one ``<use>`` of a shared marker each, or (the SVG writer's choice for a few
    markers, where the sharing costs more than it saves) one ``<path>`` each."""
    found = group(svg, gid)
    uses = sum(1 for _ in found.iter(f"{NS}use"))
    return uses or paths(svg, gid)


def paths(svg: bytes, gid: str) -> int:
    """Paths drawn in the group (one per segment of a collection), not the marker shapes defined for reuse."""
    return len(drawn_paths(group(svg, gid)))


def drawn_paths(element: ET.Element) -> list[ET.Element]:
    out = []
    for child in element:
        if child.tag == f"{NS}path":
            out.append(child)
        elif child.tag != f"{NS}defs":
            out.extend(drawn_paths(child))
    return out


def group_xml(svg: bytes, gid: str) -> str:
    """The group's markup (to read colours off its styles)."""
    return ET.tostring(group(svg, gid), encoding="unicode")


def path_points(svg: bytes, gid: str) -> list[tuple[float, float]]:
    """The vertices of every path in the group, in order."""
    data = " ".join(p.get("d", "") for p in drawn_paths(group(svg, gid)))
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", data)]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def tick_y(svg: bytes, text: str) -> float | None:
    """The SVG y of the y-axis tick labelled ``text``."""
    for g in root(svg).iter(f"{NS}g"):
        if (g.get("id") or "").startswith("ytick_"):
            labelled = any("".join(t.itertext()) == text for t in g.iter(f"{NS}text"))
            uses = list(g.iter(f"{NS}use"))
            if labelled and uses:
                return float(uses[0].get("y", "nan"))
    return None


def texts(svg: bytes) -> list[str]:
    """Every text the SVG shows, unescaped (what a reader sees)."""
    return ["".join(e.itertext()) for e in root(svg).iter(f"{NS}text")]


def png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def chain_cascade(n: int, branching: int = 3, root: str = "tw:0") -> dict[str, Any]:
    """A cascades document of ``n`` posts: post i reshares post (i - 1) // branching, one every 10 minutes."""
    events: list[list[Any]] = [[root, None, T0, "tw:author-0"]]
    for i in range(1, n):
        parent = root if (i - 1) // branching == 0 else f"tw:{(i - 1) // branching}"
        events.append([f"tw:{i}", parent, T0 + 600 * i, f"tw:author-{i % 5}"])
    return {"cascade_id": root, "root_key": root, "platform": "tw", "events": events}
