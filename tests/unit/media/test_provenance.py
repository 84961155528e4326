"""Provenance: C2PA manifests (real Content Credentials examples, offline) and generator metadata."""

from __future__ import annotations

import datetime as dt
import io
import json
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from flockwatch.config import Settings
from flockwatch.media.metadata import (
    MAX_TEXT_CHUNK,
    GeneratorMetadataSignal,
    png_text_chunks,
    read_generator_metadata,
)
from flockwatch.media.provenance import C2paSignal, read_c2pa
from flockwatch.media.score import MediaScorer
from flockwatch.media.signal import Finding, Tier
from flockwatch.media.sniff import open_media

EXAMPLES = Settings().data_dir / "media/images/c2pa_examples"
PLAIN_PHOTO = Settings().data_dir / "media/images/pdq_variants/bridge-1-original.jpg"
CHARACTERISATIONS = {
    "ai_generated",
    "edited",
    "captured",
    "signed",
    "unsigned",
    "remote_manifest",
    "invalid",
    "unreadable",
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any Python-level connection attempt fails the test (c2pa's own fetches are checked by message below)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def c2pa_finding(path: Path, trust: Path | None = None) -> Finding | None:
    return C2paSignal(trust).compute(open_media(path))


# ------------------------------------------------------------------------------------ real examples

# file -> (characterisation, ai_generated, edited, claim generator substring, score range of the finding;
# None: an observation without a score, as light edits (crop, resize, watermark) are)
EXPECTED: dict[str, tuple[str, bool, bool, str, tuple[float, float] | None]] = {
    "ChatGPT_Image.png": ("ai_generated", True, False, "ChatGPT", (0.95, 1.0)),
    "Firefly_tabby_cat.jpg": ("ai_generated", True, False, "Firefly", (0.95, 1.0)),
    "car-es-Ps-Cr.jpg": ("edited", False, True, "Photoshop", None),
    "cloudscape-ACA-Cr.jpeg": ("edited", False, True, "Content Authenticity", None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_embedded_examples_are_characterised(name: str) -> None:
    char, ai, edited, generator, score_range = EXPECTED[name]
    s = read_c2pa(EXAMPLES / name)
    assert s["has_manifest"] and s["manifest_location"] == "embedded"
    assert s["characterisation"] == char
    assert s["ai_generated"] is ai and s["edited"] is edited
    assert generator in s["claim_generator"]
    # Offline and without a trust list: the signature checks out, the signer is simply unknown.
    v = s["validation"]
    assert v["signature_valid"] and v["integrity_ok"] and not v["trusted"]
    assert "signingCredential.untrusted" in {f["code"] for f in v["failures"]}
    json.dumps(s)  # JSON-able as promised
    finding = c2pa_finding(EXAMPLES / name)
    assert finding is not None and finding.tier == Tier.provenance
    if score_range is None:
        assert finding.score is None
    else:
        assert finding.score is not None and score_range[0] <= finding.score <= score_range[1]
    assert "untrusted (no trust list)" in finding.detail


def test_chatgpt_declares_generation_through_its_parent_ingredient() -> None:
    s = read_c2pa(EXAMPLES / "ChatGPT_Image.png")
    assert s["issuer"] == "OpenAI" and "ChatGPT" in s["signer"]
    assert [a["action"] for a in s["actions"]] == ["c2pa.opened"]  # the active manifest only opens its parent
    (parent,) = s["ingredients"]
    assert parent["relationship"] == "parentOf" and parent["has_provenance"] and parent["ai_generated"]
    assert "GPT-4o" in s["ai_agents"]
    finding = c2pa_finding(EXAMPLES / "ChatGPT_Image.png")
    assert finding is not None
    assert "ChatGPT (OpenAI) declares trainedAlgorithmicMedia (GPT-4o)" in finding.detail


def test_firefly_creation_action_and_edits() -> None:
    s = read_c2pa(EXAMPLES / "Firefly_tabby_cat.jpg")
    (created,) = s["actions"]
    assert created["action"] == "c2pa.created" and created["software_agent"] == "Adobe Firefly"
    assert created["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert s["signed_at"].startswith("2025-10-23")

    car = read_c2pa(EXAMPLES / "car-es-Ps-Cr.jpg")
    assert car["edits"] == ["c2pa.cropped", "c2pa.resized"]
    (ingredient,) = car["ingredients"]
    assert ingredient["title"] == "car-es.jpeg" and not ingredient["has_provenance"] and not ingredient["ai_generated"]
    finding = c2pa_finding(EXAMPLES / "car-es-Ps-Cr.jpg")
    assert finding is not None and "cropped, resized" in finding.detail


def test_remote_manifest_is_reported_not_fetched() -> None:
    s = read_c2pa(EXAMPLES / "crater-lake-cr.jpg")
    assert s["characterisation"] == "remote_manifest" and s["manifest_location"] == "remote"
    assert s["remote_url"].startswith("https://cai-manifests.adobe.com/manifests/urn-uuid-")
    # c2pa says "must fetch" when fetching is off and "could not fetch" after trying: it never tried.
    assert "must fetch" in s["error"] and "could not fetch" not in s["error"]
    f = c2pa_finding(EXAMPLES / "crater-lake-cr.jpg")
    assert f is not None and f.score is None and "stored remotely at https://cai-manifests" in f.detail
    # Scored with other signals, the fact is an observation in the provenance, not a score.
    result = MediaScorer([C2paSignal()]).score_file(open_media(EXAMPLES / "crater-lake-cr.jpg"))
    assert result.manipulation_score is None and result.provenance["c2pa"]["characterisation"] == "remote_manifest"


def test_no_manifest_is_no_evidence() -> None:
    for path in (EXAMPLES / "crater-lake.jpeg", PLAIN_PHOTO):
        s = read_c2pa(path)
        assert s["characterisation"] == "unsigned" and not s["has_manifest"]
        f = c2pa_finding(path)
        assert f is not None and f.score is None and "no Content Credentials" in f.detail
        assert GeneratorMetadataSignal().compute(open_media(path)) is None


# ------------------------------------------------------------------------------------ our own signer


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FW")])


def _key_usage(sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=not sign, crl_sign=not sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    """A certificate for ``key`` valid from yesterday to 30 days on; callers add extensions and sign."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(cn), _name(cn), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A test root, a leaf signed by it, and an unrelated root, as PEM files."""
    root_key, root = _ca("Flockwatch Test Root")
    _, other = _ca("Some Other Root")
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _builder(_name("Flockwatch Test Camera"), root.subject, leaf_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("pki")
    (d / "root.pem").write_bytes(_pem(root))
    (d / "other.pem").write_bytes(_pem(other))
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    yield {"root": d / "root.pem", "other": d / "other.pem", "cert": _pem(leaf), "key": key_pem, "dir": d}


def sign_jpeg(pki: dict[str, Any], name: str, actions: list[dict[str, Any]], component: Path | None = None) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 30, 200)).save(buf, "JPEG")
    buf.seek(0)
    manifest = {
        "claim_generator_info": [{"name": "Flockwatch Test Camera", "version": "1.0"}],
        "title": name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, pki["cert"], pki["key"], None)
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        if component is not None:
            with component.open("rb") as f:
                builder.add_ingredient(
                    {"title": component.name, "relationship": "componentOf", "label": "part"}, "image/jpeg", f
                )
        builder.sign(signer, "image/jpeg", buf, out)
    path: Path = pki["dir"] / name
    path.write_bytes(out.getvalue())
    return path


IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
CAPTURE = [{"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}]


def test_capture_counts_as_evidence_only_from_a_trusted_signer(pki: dict[str, Any]) -> None:
    path = sign_jpeg(pki, "capture.jpg", CAPTURE)

    untrusted = read_c2pa(path)
    assert untrusted["characterisation"] == "captured" and not untrusted["validation"]["trusted"]
    f = c2pa_finding(path)
    assert f is not None and f.score is None and "a claim, not evidence" in f.detail

    trusted = read_c2pa(path, pki["root"])
    assert trusted["validation"]["trusted"] and trusted["validation"]["state"] == "Trusted"
    f = c2pa_finding(path, pki["root"])
    assert (
        f is not None and f.score is not None and f.tier == Tier.provenance and f.score <= 0.1 and "trusted" in f.detail
    )

    stranger = read_c2pa(path, pki["other"])
    assert not stranger["validation"]["trusted"]
    f = c2pa_finding(path, pki["other"])
    assert f is not None and "signer not in trust list" in f.detail


def test_changed_after_signing_is_invalid(pki: dict[str, Any]) -> None:
    path = sign_jpeg(pki, "tampered.jpg", CAPTURE)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # one byte of scan data, inside the hashed range
    path.write_bytes(bytes(data))
    s = read_c2pa(path)
    assert s["characterisation"] == "invalid" and not s["validation"]["integrity_ok"]
    assert any(f["code"] == "assertion.dataHash.mismatch" for f in s["validation"]["failures"])
    f = c2pa_finding(path)
    assert f is not None and f.score is not None and f.score >= 0.9 and "changed after signing" in f.detail


def test_content_edits_score_above_light_ones(pki: dict[str, Any]) -> None:
    heavy = sign_jpeg(pki, "heavy.jpg", [*CAPTURE, {"action": "c2pa.drawing"}])
    light = sign_jpeg(pki, "light.jpg", [*CAPTURE, {"action": "c2pa.cropped"}])
    fh, fl = c2pa_finding(heavy), c2pa_finding(light)
    # A drawing changes the scene (scored); a crop does not (an observation, ignored by fusion).
    assert fh is not None and fl is not None and fh.score is not None and fh.score >= 0.5 and fl.score is None
    composite = sign_jpeg(
        pki,
        "fill.jpg",
        [*CAPTURE, {"action": "c2pa.edited", "digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia"}],
    )
    s = read_c2pa(composite)
    assert s["characterisation"] == "ai_generated" and s["ai_composite"]
    f = c2pa_finding(composite)
    assert f is not None and f.score is not None and 0.85 <= f.score < 0.97


def test_bad_trust_list_fails_at_start(tmp_path: Path) -> None:
    bogus = tmp_path / "anchors.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ValueError, match="no PEM certificate"):
        C2paSignal(bogus)


# ------------------------------------------------------------------------------------ broken files


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.98])
def test_truncated_files_give_a_defined_result(tmp_path: Path, fraction: float) -> None:
    for name in ("Firefly_tabby_cat.jpg", "ChatGPT_Image.png"):
        data = (EXAMPLES / name).read_bytes()
        path = tmp_path / f"cut-{name}"
        path.write_bytes(data[: int(len(data) * fraction)])
        s = read_c2pa(path)
        assert s["characterisation"] in CHARACTERISATIONS
        if s["characterisation"] not in ("unreadable", "unsigned"):
            assert s["characterisation"] == "invalid"  # a manifest that survived the cut cannot match
        if name == "Firefly_tabby_cat.jpg" and fraction == 0.5:
            # The JPEG's manifest sits in its header: cut mid-scan, the data hash no longer matches.
            assert "assertion.dataHash.mismatch" in {f["code"] for f in s["validation"]["failures"]}
        f = c2pa_finding(path)
        assert f is None or f.score is None or f.score >= 0.9
        assert GeneratorMetadataSignal().compute(open_media(path)) is None


def test_garbage_after_a_jpeg_header(tmp_path: Path) -> None:
    path = tmp_path / "junk.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    assert read_c2pa(path)["characterisation"] in ("unreadable", "unsigned")
    f = c2pa_finding(path)
    assert f is not None and f.score is None
    md = read_generator_metadata(path)
    assert md["hits"] == [] and "errors" in md


# ------------------------------------------------------------------------------------ generator metadata

SD_PARAMETERS = (
    "a photo of a politician shaking hands with an alien, highly detailed\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, Model hash: 6ce0161689"
)


def _png(path: Path, info: PngInfo) -> Path:
    Image.new("RGB", (32, 32), (10, 200, 30)).save(path, "PNG", pnginfo=info)
    return path


def test_stable_diffusion_parameters_chunk_fires(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("parameters", SD_PARAMETERS)
    path = _png(tmp_path / "sd.png", info)
    f = GeneratorMetadataSignal().compute(open_media(path))
    assert f is not None and f.score is not None and f.tier == Tier.provenance and 0.8 <= f.score < 1.0
    assert "PNG text 'parameters'" in f.detail and "Steps" in f.detail and "forgeable" in f.detail
    assert "a photo of a politician" in f.detail and len(f.detail) < 400  # value quoted, truncated
    assert read_c2pa(path)["characterisation"] == "unsigned"


def test_comfyui_and_novelai_chunks_fire(tmp_path: Path) -> None:
    comfy = {"3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "cfg": 8, "sampler_name": "euler"}}}
    info = PngInfo()
    info.add_text("prompt", json.dumps(comfy), zip=True)  # zTXt
    f = GeneratorMetadataSignal().compute(open_media(_png(tmp_path / "comfy.png", info)))
    assert f is not None and "cfg" in f.detail

    info = PngInfo()
    info.add_itxt("Software", "NovelAI", zip=True)
    info.add_itxt("Comment", json.dumps({"steps": 28, "sampler": "k_euler", "seed": 1, "scale": 5, "uc": "bad"}))
    md = read_generator_metadata(_png(tmp_path / "nai.png", info))
    assert "NovelAI" in md["generators"]
    assert {h["kind"] for h in md["hits"]} == {"generator", "parameters"}


def test_firefly_exif_and_xmp_source_type_fire(tmp_path: Path) -> None:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    exif = Image.Exif()
    exif[0x0131] = "Adobe Firefly"
    path = tmp_path / "ff.jpg"
    Image.new("RGB", (32, 32)).save(path, "JPEG", exif=exif, xmp=xmp.encode())
    md = read_generator_metadata(path)
    assert md["exif"]["Software"] == "Adobe Firefly"
    assert md["digital_source_types"] == ["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"]
    assert {h["kind"] for h in md["hits"]} == {"generator", "digital_source_type"}
    f = GeneratorMetadataSignal().compute(open_media(path))
    assert f is not None and f.score == pytest.approx(0.9)


def test_ordinary_words_in_captions_do_not_fire(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0131] = "Google"  # as in the plain photo: Picasa, not Imagen
    exif[0x010E] = "Sora and Leonardo on the runway at dawn"  # names and words, not generators
    path = tmp_path / "caption.jpg"
    Image.new("RGB", (32, 32)).save(path, "JPEG", exif=exif)
    assert GeneratorMetadataSignal().compute(open_media(path)) is None
    exif[0x010E] = "Made with Midjourney --ar 16:9 --v 6"
    Image.new("RGB", (32, 32)).save(path, "JPEG", exif=exif)
    f = GeneratorMetadataSignal().compute(open_media(path))
    assert f is not None and "Midjourney" in json.dumps(f.data["hits"])


def test_compressed_text_bomb_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (8, 8)).save(path, "PNG")
    data = path.read_bytes()
    body = b"Comment\x00\x00" + zlib.compress(b"A" * (16 << 20), 9)  # 16 MB of text in ~16 KB
    chunk = len(body).to_bytes(4, "big") + b"zTXt" + body + zlib.crc32(b"zTXt" + body).to_bytes(4, "big")
    path.write_bytes(data[:33] + chunk + data[33:])  # after IHDR
    text = png_text_chunks(path)["Comment"]
    assert set(text) == {"A"} and len(text) == MAX_TEXT_CHUNK  # inflated up to the cap, not to 16 MB
    assert read_generator_metadata(path)["hits"] == []


def test_generated_component_makes_a_composite(pki: dict[str, Any]) -> None:
    placed = {"action": "c2pa.placed", "parameters": {"ingredientIds": ["part"]}}
    path = sign_jpeg(pki, "collage.jpg", [*CAPTURE, placed], component=EXAMPLES / "Firefly_tabby_cat.jpg")
    s = read_c2pa(path)
    (part,) = s["ingredients"]
    assert part["relationship"] == "componentOf" and part["ai_generated"] and "Firefly" in part["claim_generator"]
    # The Firefly cat is fully generated; pasted into a photo it makes the photo a composite.
    assert s["characterisation"] == "ai_generated" and s["ai_composite"]
    assert IPTC + "compositeWithTrainedAlgorithmicMedia" in s["digital_source_types"]
    f = c2pa_finding(path)
    assert f is not None and f.score == pytest.approx(0.9) and "through an ingredient" in f.detail
