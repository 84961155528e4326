"""`flockwatch dashboards install|export` against a stand-in import API on 127.0.0.1 (no Kibana here).

The stand-in records each request (path, headers, multipart body) and answers what a test sets: Kibana's
success reply, its 400 error, a `success: false` with per-object errors, or no server at all.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from flockwatch.cli.app import app
from flockwatch.dashboards import Target, dumps, load, ndjson_path, with_prefix
from tests.local_http import serving, url_of

INFRA = Path(__file__).resolve().parents[3] / "infra"


@dataclass
class FakeApp:
    status: int = 200
    reply: Any = None  # JSON body (dict) or raw bytes
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                objects = len(load(file_part(self.headers["Content-Type"], body).decode()))
                reply = fake.reply if fake.reply is not None else {"success": True, "successCount": objects}
                raw = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def file_part(content_type: str, body: bytes) -> bytes:
    """The `file` part of a multipart/form-data body (and that it is the only part, named *.ndjson)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    (part,) = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "file"
    assert (part.get_filename() or "").endswith(".ndjson")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


@pytest.fixture
def fake_app() -> Iterator[tuple[FakeApp, str]]:
    fake = FakeApp()
    with serving(fake.handler()) as server:
        yield fake, url_of(server)


def run(*args: str, **env: str) -> Result:
    # Settings come from FLOCKWATCH_*: start from the defaults whatever the calling shell set.
    base = {"FLOCKWATCH_INDEX_PREFIX": "flockwatch", "FLOCKWATCH_STORE_ENGINE": "opensearch"}
    return CliRunner().invoke(app, ["dashboards", *args], env=base | env, prog_name="flockwatch")


def committed(target: Target, prefix: str = "flockwatch") -> list[dict[str, Any]]:
    return with_prefix(load(ndjson_path(INFRA, target).read_text(encoding="utf-8")), prefix)


def test_install_into_kibana_posts_the_objects_for_the_prefix(fake_app: tuple[FakeApp, str]) -> None:
    fake, url = fake_app
    result = run(
        "install",
        "--url",
        url + "/",
        FLOCKWATCH_STORE_ENGINE="elasticsearch",  # Kibana by default
        FLOCKWATCH_INDEX_PREFIX="acme",
        FLOCKWATCH_STORE_USERNAME="analyst",
        FLOCKWATCH_STORE_PASSWORD="pw",
    )
    assert result.exit_code == 0, result.output
    ((method, path, headers, body),) = fake.requests
    assert method == "POST" and path == "/api/saved_objects/_import?overwrite=true"
    assert headers["kbn-xsrf"] == "true" and "osd-xsrf" not in headers
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert headers["authorization"] == "Basic " + base64.b64encode(b"analyst:pw").decode()
    sent = load(file_part(headers["content-type"], body).decode())
    assert sent == committed(Target.kibana, "acme") and sent[0]["id"].startswith("acme-")
    out = json.loads(result.stdout)
    assert out == {
        "target": "kibana",
        "url": url,
        "objects": len(sent),
        "success": True,
        "imported": len(sent),
        "errors": [],
    }
    assert result.stdout.count("\n") == 1  # one line


def test_install_into_opensearch_dashboards(fake_app: tuple[FakeApp, str]) -> None:
    fake, url = fake_app
    result = run("install", "--url", url, "--no-overwrite")  # OpenSearch store: OpenSearch Dashboards by default
    assert result.exit_code == 0, result.output
    ((_, path, headers, body),) = fake.requests
    assert path == "/api/saved_objects/_import?overwrite=false"
    assert headers["osd-xsrf"] == "true" and "kbn-xsrf" not in headers and "authorization" not in headers
    assert load(file_part(headers["content-type"], body).decode()) == committed(Target.opensearch_dashboards)
    assert json.loads(result.stdout)["target"] == "opensearch-dashboards"


def test_install_into_a_kibana_space(fake_app: tuple[FakeApp, str]) -> None:
    fake, url = fake_app
    result = run("install", "--target", "kibana", "--url", url, "--space", "analysts")
    assert result.exit_code == 0, result.output
    assert fake.requests[0][1] == "/s/analysts/api/saved_objects/_import?overwrite=true"
    refused = run("install", "--target", "opensearch-dashboards", "--url", url, "--space", "analysts")
    assert refused.exit_code == 2 and "spaces are Kibana's" in refused.output
    assert len(fake.requests) == 1


def test_a_refused_import_exits_1_with_one_line_naming_the_url(fake_app: tuple[FakeApp, str]) -> None:
    fake, url = fake_app
    fake.status, fake.reply = 400, {"statusCode": 400, "error": "Bad Request", "message": "Invalid file extension"}
    result = run("install", "--target", "kibana", "--url", url)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: Kibana at {url} refused the import: HTTP 400: Invalid file extension"
    ]


def test_objects_that_fail_to_import_exit_1_with_the_errors(fake_app: tuple[FakeApp, str]) -> None:
    fake, url = fake_app
    fake.reply = {
        "success": False,
        "successCount": 11,
        "errors": [
            {
                "id": "flockwatch-top-narratives",
                "type": "visualization",
                "error": {"type": "missing_references", "references": [{"type": "index-pattern", "id": "x"}]},
            }
        ],
    }
    result = run("install", "--target", "opensearch-dashboards", "--url", url)
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["success"] is False and out["imported"] == 11
    assert out["errors"] == ["visualization flockwatch-top-narratives: missing_references (index-pattern x)"]
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: OpenSearch Dashboards at {url}: the import failed (11 imported, 1 errors: ")
    assert "missing_references" in line


def test_a_reply_that_is_not_the_import_api(fake_app: tuple[FakeApp, str]) -> None:
    fake, url = fake_app
    fake.reply = b"<html>a proxy login page</html>"
    result = run("install", "--url", url)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: OpenSearch Dashboards at {url} answered something other than")


def test_an_unreachable_app_exits_1_naming_the_url() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = run("install", "--target", "kibana", "--url", url, "--timeout", "5")
    assert result.exit_code == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: Kibana at {url} is not reachable: ")


def test_export_writes_the_objects_for_the_prefix(tmp_path: Path) -> None:
    out = tmp_path / "objects.ndjson"
    result = run("export", "--target", "kibana", "--output", str(out), FLOCKWATCH_INDEX_PREFIX="acme")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == dumps(committed(Target.kibana, "acme"))
    assert json.loads(result.stdout) == {"target": "kibana", "output": str(out), "objects": 12}
    default = run("export", "--output", str(out))
    assert json.loads(default.stdout)["target"] == "opensearch-dashboards"
    assert out.read_text(encoding="utf-8") == ndjson_path(INFRA, Target.opensearch_dashboards).read_text()


def test_a_broken_committed_file_is_refused_before_any_request(tmp_path: Path, fake_app: tuple[FakeApp, str]) -> None:
    fake, url = fake_app
    infra = tmp_path / "infra"
    (infra / "dashboards").mkdir(parents=True)
    objects = committed(Target.kibana)
    objects[-1]["references"][0]["id"] = "gone"
    (infra / "dashboards" / "kibana.ndjson").write_text(dumps(objects))
    result = run("install", "--target", "kibana", "--url", url, FLOCKWATCH_INFRA_DIR=str(infra))
    assert result.exit_code == 2 and not fake.requests
    assert "points at visualization gone" in result.stderr
