"""Generator metadata: EXIF, XMP, IPTC and PNG text fields that name an AI generator or its parameters.

Stable Diffusion front ends (A1111 ``parameters``, ComfyUI ``prompt``/``workflow``, NovelAI ``Comment``),
Midjourney (``--ar``/``--v`` flags, Job ID), IPTC's ``DigitalSourceType`` and its 2025 AI fields, and
software fields (EXIF Software, ``xmp:CreatorTool``) that name a generator all leave traces here.

Metadata is a weak kind of provenance: stripping it takes one re-save, so its absence means nothing
(the signal returns ``None``), and anyone can write it, so its presence is a claim, not proof: scores
stay below C2PA's. Every read is capped: text chunks, decompressed text and XMP packets, so a hostile
file cannot make this module read or inflate more than a few MB.

Invisible watermarks are left out: ``invisible-watermark`` needs ``opencv-python`` (clashes with our
``opencv-python-headless``) and PyWavelets, and Adobe's ``trustmark`` downloads its weights at run time.
"""

from __future__ import annotations

import html
import json
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, IptcImagePlugin

from flockwatch.media.signal import Finding, MediaFile, Tier

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_CHUNK = 1 << 20  # bytes of one PNG text chunk, compressed or not
MAX_TEXT_CHUNKS = 64
MAX_PNG_CHUNKS = 100_000  # chunk headers walked before giving up (a file of empty chunks)
MAX_XMP = 1 << 20
RAW_SCAN = 4 << 20  # head of a non-PNG/JPEG container searched for an XMP packet
VALUE_CAP = 2000  # characters kept per field in the output
XMP_SCAN_CAP = 256 * 1024  # characters of an XMP packet searched (the properties read sit in its first kilobytes)
EVIDENCE_CAP = 120  # characters quoted in a detail line
# Characters of one field searched by the regexes: parameter blocks and credits sit at the start.
SCAN_CAP = 16_384
MAX_JSON_NODES = 20_000

IPTC_DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# IPTC/C2PA digital source types that declare generated (or partly generated) content.
AI_SOURCE_TYPES = frozenset(
    {
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "algorithmicMedia",
        "compositeSynthetic",
        "trainedAlgorithmicData",
    }
)
# The composite ones say only part of the content was generated.
COMPOSITE_AI_SOURCE_TYPES = frozenset({"compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"})


def source_type_name(uri: str) -> str:
    """``trainedAlgorithmicMedia`` from its IPTC or C2PA URI (or from the bare name)."""
    return uri.strip().rstrip("/").rsplit("/", 1)[-1]


def is_ai_source_type(uri: str) -> bool:
    return source_type_name(uri) in AI_SOURCE_TYPES


@dataclass(frozen=True)
class _Generator:
    name: str
    pattern: re.Pattern[str]
    # Names that are also ordinary words or people ("Sora", "Leonardo", "runway") count only in fields
    # that name software, never in captions.
    software_only: bool = False


def _g(name: str, pattern: str, software_only: bool = False) -> _Generator:
    return _Generator(name, re.compile(pattern, re.IGNORECASE), software_only)


GENERATORS: tuple[_Generator, ...] = (
    _g("Stable Diffusion", r"stable[ _-]?diffusion|\bsdxl\b|automatic1111|\ba1111\b|invokeai|fooocus|dreamstudio"),
    _g("Stability AI", r"stability[ .]?ai"),
    _g("Midjourney", r"midjourney"),
    _g("DALL-E", r"\bdall[\s·._-]?e\b"),
    _g("OpenAI", r"\bopenai\b|chatgpt|gpt-4o|gpt-image"),
    _g("Adobe Firefly", r"firefly"),
    _g("Google Imagen/Gemini", r"\bimagen\s?\d?\b|\bgemini\b|made with google ai|nano[ -]?banana"),
    _g("NovelAI", r"novel[ ]?ai"),
    _g("ComfyUI", r"comfyui"),
    _g("Flux", r"\bflux(?:\.1|[ -](?:dev|schnell|pro|kontext))\b|black forest labs"),
    _g("Ideogram", r"ideogram"),
    _g("Leonardo.Ai", r"leonardo[ .]?ai\b"),
    _g("Leonardo.Ai", r"^leonardo\b", software_only=True),
    _g("Runway", r"runwayml|runway[ -]gen"),
    _g("Runway", r"^runway\b", software_only=True),
    _g("Sora", r"\bsora\b", software_only=True),
    _g("Kling", r"\bkling\b", software_only=True),
    _g("Pika", r"\bpika(?:[ ]?labs)?\b", software_only=True),
    _g("Microsoft Designer/Bing Image Creator", r"bing image creator|microsoft designer|copilot designer"),
    _g("Meta AI", r"imagine with meta|\bmeta ai\b"),
    _g("xAI Grok", r"\bgrok\b|\bxai aurora\b"),
    _g("Recraft", r"\brecraft\b"),
    _g("Craiyon", r"craiyon"),
    _g("NightCafe", r"nightcafe"),
    _g("Playground AI", r"playground[ ]?(?:ai|v\d)"),
    _g("Kandinsky", r"kandinsky", software_only=True),
    _g("Hunyuan", r"hunyuan"),
    _g("Seedream", r"seedream|seedance"),
    _g("Hailuo", r"hailuo|minimax video"),
    _g("Luma Dream Machine", r"dream machine|luma ai"),
    _g("Google Veo", r"\bveo\s?\d?\b", software_only=True),
    _g("Krea", r"\bkrea(?:\.ai)?\b", software_only=True),
    _g("Tensor.Art", r"tensor\.art"),
    _g("Draw Things", r"draw things", software_only=True),
    _g("DiffusionBee", r"diffusionbee"),
    _g("Artbreeder", r"artbreeder"),
    _g("StyleGAN", r"stylegan"),
)

# A1111-style "Key: value" parameter lines; two of these in one field is a generation record.
_A1111_KEYS = re.compile(
    r"(?:^|[\n,]\s*)"
    r"(Steps|Sampler|CFG scale|Seed|Negative prompt|Denoising strength|Model hash|Schedule type|Clip skip)\s*:",
    re.IGNORECASE,
)
_MJ_FLAGS = re.compile(r"(?:^|\s)--(ar|aspect|v|version|niji|stylize|chaos|quality|seed|style|weird|tile|q|s|c|w)\s+\S")
_MJ_JOB = re.compile(r"job id:\s*[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE)
_PARAM_KEYS = frozenset(
    {"seed", "steps", "sampler", "sampler_name", "cfg", "cfg_scale", "scale", "negative_prompt", "uc", "noise_seed"}
)
_COMFY_NODES = re.compile(r"KSampler|CheckpointLoader|CLIPTextEncode|VAEDecode|EmptyLatentImage")

_EXIF_FIELDS = {
    0x0131: ("Software", True),
    0x010F: ("Make", True),
    0x0110: ("Model", True),
    0x013C: ("HostComputer", True),
    0x010E: ("ImageDescription", False),
    0x013B: ("Artist", False),
    0x8298: ("Copyright", False),
    0x9C9C: ("XPComment", False),
}
_EXIF_IFD_FIELDS = {0x9286: ("UserComment", False)}

# (qualified name, names software?) Prefixes are the conventional ones every writer we know uses.
_XMP_FIELDS = (
    ("xmp:CreatorTool", True),
    ("stEvt:softwareAgent", True),
    ("Iptc4xmpExt:DigitalSourceType", False),
    ("Iptc4xmpExt:AISystemUsed", True),
    ("Iptc4xmpExt:AISystemVersionUsed", True),
    ("Iptc4xmpExt:AIPromptInformation", False),
    ("Iptc4xmpExt:AIPromptWriterName", False),
    ("photoshop:Credit", False),
    ("photoshop:Source", False),
    ("dc:creator", False),
    ("dc:description", False),
    ("dc:title", False),
    ("tiff:Software", True),
    ("tiff:Make", True),
    ("tiff:Model", True),
    ("exif:UserComment", False),
)

_IPTC_FIELDS = {
    (2, 65): ("OriginatingProgram", True),
    (2, 70): ("ProgramVersion", True),
    (2, 80): ("By-line", False),
    (2, 110): ("Credit", False),
    (2, 115): ("Source", False),
    (2, 120): ("Caption-Abstract", False),
}

_PNG_SOFTWARE_KEYS = frozenset({"software", "source", "generator", "model", "creator tool"})


# ---------------------------------------------------------------------------------------------- readers


def _text(raw: bytes, encoding: str = "latin-1") -> str:
    return raw.decode(encoding, errors="replace").replace("\x00", "").strip()


def _inflate(data: bytes) -> bytes:
    # max_length caps the output: a 1 MB zTXt chunk can otherwise inflate to 1 GB.
    return zlib.decompressobj().decompress(data, MAX_TEXT_CHUNK)


def _png_text(ctype: bytes, data: bytes) -> tuple[str, str] | None:
    key, sep, rest = data.partition(b"\x00")
    if not sep or not key:
        return None
    try:
        if ctype == b"tEXt":
            return _text(key), _text(rest)
        if ctype == b"zTXt":
            return _text(key), _text(_inflate(rest[1:]))
        # iTXt: compression flag, method, language tag\0, translated keyword\0, UTF-8 text.
        flag, _method, tail = rest[0], rest[1], rest[2:]
        _lang, _, tail = tail.partition(b"\x00")
        _translated, _, body = tail.partition(b"\x00")
        return _text(key), _text(_inflate(body) if flag else body, "utf-8")
    except (zlib.error, IndexError):
        return None


def png_text_chunks(path: Path) -> dict[str, str]:
    """Every tEXt/zTXt/iTXt chunk of a PNG (first value per key wins), walking chunk headers only."""
    out: dict[str, str] = {}
    with path.open("rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return out
        for _ in range(MAX_PNG_CHUNKS):
            head = f.read(8)
            if len(head) < 8:
                break
            length, ctype = struct.unpack(">I4s", head)
            if ctype == b"IEND":
                break
            if ctype in (b"tEXt", b"zTXt", b"iTXt") and length <= MAX_TEXT_CHUNK and len(out) < MAX_TEXT_CHUNKS:
                parsed = _png_text(ctype, f.read(length))
                f.seek(4, 1)  # CRC
                if parsed is not None:
                    out.setdefault(*parsed)
            else:
                f.seek(length + 4, 1)
    return out


def _raw_xmp(path: Path) -> str | None:
    with path.open("rb") as f:
        head = f.read(RAW_SCAN)
    start = head.find(b"<x:xmpmeta")
    end = head.find(b"</x:xmpmeta>", start)
    if start < 0 or end < 0 or end - start > MAX_XMP:
        return None
    return head[start : end + len(b"</x:xmpmeta>")].decode("utf-8", errors="replace")


def xmp_packet(path: Path) -> str | None:
    """The file's XMP packet (PNG iTXt, JPEG/WebP/TIFF via Pillow, else a scan of the file's head)."""
    try:
        with path.open("rb") as f:
            is_png = f.read(8) == PNG_SIGNATURE
        if is_png:
            packet: str | None = png_text_chunks(path).get("XML:com.adobe.xmp")
            return packet[:MAX_XMP] if packet else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                raw = im.info.get("xmp")
                tags = getattr(im, "tag_v2", None)  # TIFF keeps XMP in tag 700
                if raw is None and tags is not None:
                    raw = tags.get(700)
        if isinstance(raw, bytes | bytearray):
            return bytes(raw[:MAX_XMP]).decode("utf-8", errors="replace")
        if isinstance(raw, str):
            return raw[:MAX_XMP]
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError):
        pass  # not a Pillow image (video, audio) or a broken one: fall back to the raw scan
    try:
        return _raw_xmp(path)
    except OSError:
        return None


def _strip_tags(inner: str) -> str:
    items = re.findall(r"<rdf:li\b[^>]*>(.*?)</rdf:li>", inner, re.DOTALL)
    parts = items or [re.sub(r"<[^>]+>", " ", inner)]
    return "; ".join(" ".join(html.unescape(p).split()) for p in parts if p.strip())


def xmp_fields(xmp: str) -> dict[str, str]:
    """Selected XMP properties, in attribute, element or ``rdf:resource`` form; repeats joined by '; '.

    Regex rather than an XML parser: XMP from hostile files may carry entity tricks, and only a
    few properties matter here.
    """
    out: dict[str, str] = {}
    # Every repetition is bounded: with open-ended ones, a packet of unclosed tags makes each match attempt scan to
    # the end, and a 1 MB packet took minutes.
    xmp = xmp[:XMP_SCAN_CAP]
    for qname, _ in _XMP_FIELDS:
        q = re.escape(qname)
        # A value runs to its closing quote or tag (or the next opening one), or is cut at VALUE_CAP: neither end is
        # required, so a long prompt is still read, cut.
        value = rf"[\"']([^\"']{{0,{VALUE_CAP}}})"
        values = [html.unescape(v) for v in re.findall(rf"\b{q}\s{{0,50}}=\s{{0,50}}{value}", xmp)]
        values += [html.unescape(v) for v in re.findall(rf"<{q}\b[^>]{{0,500}}\brdf:resource={value}", xmp)]
        element = rf"<{q}\b[^>/]{{0,500}}>((?:(?!</?{q}\b).){{0,{VALUE_CAP}}})"
        # (a tag cut off at the end of what was read is dropped with the rest)
        values += [_strip_tags(re.sub(r"<[^>]*$", "", v)) for v in re.findall(element, xmp, re.DOTALL)]
        values = list(dict.fromkeys(v.strip() for v in values if v.strip()))
        if values:
            out[qname] = "; ".join(values)[:VALUE_CAP]
    return out


def _exif_value(value: Any) -> str | None:
    if isinstance(value, bytes):
        # UserComment starts with an 8-byte charset code; XP* tags are UTF-16LE.
        if value[:8] in (b"ASCII\x00\x00\x00", b"\x00" * 8):
            return _text(value[8:]) or None
        if value[:8] == b"UNICODE\x00":
            body = value[8:]
            big = body[:1] == b"\x00"
            return _text(body, "utf-16-be" if big else "utf-16-le") or None
        if value[:8] == b"JIS\x00\x00\x00\x00\x00":
            return _text(value[8:], "shift_jis") or None
        return _text(value, "utf-16-le") if len(value) % 2 == 0 and b"\x00" in value else _text(value)
    if isinstance(value, str):
        return value.replace("\x00", "").strip() or None
    return None


def _exif_and_iptc(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    exif: dict[str, str] = {}
    iptc: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            ex = im.getexif()
            for tag, (name, _) in _EXIF_FIELDS.items():
                v = _exif_value(ex.get(tag))
                if v:
                    exif[name] = v[:VALUE_CAP]
            sub = ex.get_ifd(ExifTags.IFD.Exif)
            for tag, (name, _) in _EXIF_IFD_FIELDS.items():
                v = _exif_value(sub.get(tag))
                if v:
                    exif[name] = v[:VALUE_CAP]
            info = IptcImagePlugin.getiptcinfo(im) or {}
            for key, (name, _) in _IPTC_FIELDS.items():
                raw = info.get(key)
                vals = raw if isinstance(raw, list) else [raw]
                text = "; ".join(_text(v, "utf-8") for v in vals if isinstance(v, bytes))
                if text:
                    iptc[name] = text[:VALUE_CAP]
    return exif, iptc


# ---------------------------------------------------------------------------------------------- evidence


def _json_evidence(value: str) -> list[str]:
    """Generation-parameter keys (or ComfyUI node types) found in a JSON text field."""
    if not value.lstrip().startswith(("{", "[")):
        return []
    try:
        doc = json.loads(value)
    except ValueError:
        return []
    keys: set[str] = set()
    nodes: set[str] = set()
    stack: list[Any] = [doc]
    seen = 0
    while stack and seen < MAX_JSON_NODES:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            keys.update(k.lower() for k in node if isinstance(k, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and len(node) < 80 and (m := _COMFY_NODES.search(node)):
            nodes.add(m.group(0))
    found = sorted(keys & _PARAM_KEYS)
    return found if len(found) >= 2 else sorted(nodes)


def parameter_evidence(value: str) -> list[str]:
    """Names of the generation parameters a text field carries (empty when it carries none)."""
    a1111 = list(dict.fromkeys(m.group(1) for m in _A1111_KEYS.finditer(value[:SCAN_CAP])))
    if len(a1111) >= 2:
        return a1111
    found = _json_evidence(value)
    if found:
        return found
    flags = list(dict.fromkeys(f"--{m.group(1)}" for m in _MJ_FLAGS.finditer(value[:SCAN_CAP])))
    if len(flags) >= 2 or _MJ_JOB.search(value[:SCAN_CAP]):
        return flags or ["Job ID"]
    return []


def generators_named(value: str, software_field: bool) -> list[str]:
    names = [
        g.name for g in GENERATORS if (software_field or not g.software_only) and g.pattern.search(value[:SCAN_CAP])
    ]
    return list(dict.fromkeys(names))


def _quote(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= EVIDENCE_CAP else flat[: EVIDENCE_CAP - 1] + "…"


def _hits(fields: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    for field, value, software in fields:
        if field.endswith("DigitalSourceType"):
            for uri in value.split("; "):
                if is_ai_source_type(uri):
                    hits.append(
                        {"field": field, "value": _quote(uri), "kind": "digital_source_type",
                         "what": source_type_name(uri), "score": 0.9}
                    )  # fmt: skip
            continue
        params = parameter_evidence(value)
        if params:
            hits.append(
                {"field": field, "value": _quote(value), "kind": "parameters", "what": ", ".join(params), "score": 0.9}
            )
        names = generators_named(value, software)
        if names:
            hits.append(
                {"field": field, "value": _quote(value), "kind": "generator", "what": ", ".join(names),
                 # A caption that mentions a generator is weaker than a software field naming it.
                 "score": 0.9 if software else 0.8}
            )  # fmt: skip
    return sorted(hits, key=lambda h: -float(h["score"]))


def read_generator_metadata(path: Path) -> dict[str, Any]:
    """EXIF/XMP/IPTC/PNG-text fields that matter for generation, and the hits among them.

    Returns ``{"exif", "xmp", "iptc", "png_text", "digital_source_types", "generators", "hits"}``;
    each hit is ``{"field", "value" (truncated), "kind", "what", "score"}``. Unreadable sections are
    left empty (and named in ``"errors"``): a broken header must not hide the others.
    """
    errors: list[str] = []
    png_text: dict[str, str] = {}
    exif: dict[str, str] = {}
    iptc: dict[str, str] = {}
    try:
        png_text = png_text_chunks(path)
    except (OSError, struct.error) as e:
        errors.append(f"png text: {e}")
    try:
        exif, iptc = _exif_and_iptc(path)
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError, struct.error) as e:
        # Pillow raises a zoo of types on hostile headers; UnidentifiedImageError (an OSError) is the common one.
        errors.append(f"exif/iptc: {type(e).__name__}: {e}")
    except Image.DecompressionBombError as e:
        errors.append(f"exif/iptc: {e}")
    xmp_text = png_text.pop("XML:com.adobe.xmp", None) or xmp_packet(path)
    xmp = xmp_fields(xmp_text) if xmp_text else {}

    fields: list[tuple[str, str, bool]] = []
    exif_kinds = {name: sw for name, sw in [*_EXIF_FIELDS.values(), *_EXIF_IFD_FIELDS.values()]}
    fields += [(f"EXIF {k}", v, exif_kinds[k]) for k, v in exif.items()]
    xmp_kinds = dict(_XMP_FIELDS)
    fields += [(f"XMP {k}", v, xmp_kinds[k]) for k, v in xmp.items()]
    iptc_kinds = dict(_IPTC_FIELDS.values())
    fields += [(f"IPTC {k}", v, iptc_kinds[k]) for k, v in iptc.items()]
    fields += [(f"PNG text '{k}'", v, k.lower() in _PNG_SOFTWARE_KEYS) for k, v in png_text.items()]
    hits = _hits(fields)

    dst = xmp.get("Iptc4xmpExt:DigitalSourceType", "")
    out: dict[str, Any] = {
        "exif": exif,
        "xmp": xmp,
        "iptc": iptc,
        "png_text": {k: v[:VALUE_CAP] for k, v in png_text.items()},
        "digital_source_types": [u for u in dst.split("; ") if u],
        "generators": sorted({n for h in hits if h["kind"] == "generator" for n in str(h["what"]).split(", ")}),
        "hits": hits,
    }
    if errors:
        out["errors"] = errors
    return out


class GeneratorMetadataSignal:
    """Fires when metadata names a generator, carries generation parameters or an AI source type."""

    name = "generator_metadata"
    tier = Tier.provenance

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind == "image"

    def compute(self, media: MediaFile) -> Finding | None:
        md = read_generator_metadata(media.path)
        hits: list[dict[str, Any]] = md["hits"]
        if not hits:
            return None  # stripped or never written: says nothing either way
        top = hits[0]
        claim = {
            "digital_source_type": f"declares IPTC digital source type {top['what']}",
            "parameters": f"carries generation parameters ({top['what']})",
            "generator": f"names {top['what']}",
        }[str(top["kind"])]
        more = f" (+{len(hits) - 1} more)" if len(hits) > 1 else ""
        detail = f"Metadata: {top['field']} {claim}: {top['value']!r}{more}; a forgeable claim, not proof"
        return Finding.scored(self.name, float(top["score"]), detail, self.tier, md)
