"""The dashboard in headless Chromium, over HTTP on loopback: signing in, the alerts feed with the evidence behind
an alert in words, acknowledging it, the narrative, cascade, cluster, post (media evidence) and account views,
watchlists, post search, what a researcher may not see, and post text that tries to run script.

The API runs on an in-memory store (tests/fakes/api_store.py) so each view has every kind of evidence to show;
tests/e2e/test_readme_commands.py drives the same page over the demo's data on the real store. Screenshots of
each step are kept under ``test-artifacts/dashboard/``."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from flockwatch.api.access import Role
from flockwatch.api.app import api_paths, create_app
from flockwatch.config import Settings
from flockwatch.store.documents import IndexKind
from tests.browser import chromium, open_route, screenshot, served, sign_in
from tests.fakes.api_store import T0, analyst_store
from tests.fakes.store import InMemoryStore

pytestmark = pytest.mark.integration

SCRIPTED = '<img src=x onerror="window.pwned = 1"><script>window.pwned = 2</script>'
FAKE_VIDEO = {
    "post_key": "twitter:1",
    "media_url": "https://cdn.example/clip.mp4",
    "sha256": "ab" * 32,
    "media_kind": "video",
    "manipulation_score": 0.93,
    "signals": [{"signal": "face_swap", "score": 0.93, "on": "https://cdn.example/clip.mp4", "detail": "blend seam"}],
    "observations": [
        {"signal": "lip_sync", "on": "https://cdn.example/clip.mp4", "detail": "face 1: audio 300 ms late", "data": {}}
    ],
    "provenance": {},
    "matches": [{"verdict": "matches a banked known fake"}],
}


def dashboard_store() -> InMemoryStore:
    store = analyst_store()
    docs = store.engine.docs
    docs[IndexKind.posts]["twitter:1"]["media_by_url"] = {"m1": FAKE_VIDEO}
    docs[IndexKind.posts]["twitter:1"]["media_risk"] = 0.93
    docs[IndexKind.posts]["twitter:1"]["text_score"] = {
        "machine_score": 0.88,
        "label": "machine",
        "interval": [0.81, 0.9],
        "evidence": [{"signal": "detector", "score": 0.88, "on": "text", "detail": "low perplexity"}],
    }
    docs[IndexKind.posts]["twitter:3"]["text"] = SCRIPTED
    docs[IndexKind.narratives]["n-1"].update(
        representative_text="Ballots were shredded overnight in the county office",
        post_count=2,
        account_count=2,
        platforms={"twitter": 2},
    )
    docs[IndexKind.alerts]["a1"].update(
        severity="high",
        rule="narrative-burst",
        entity="narrative:n-1",
        summary="narrative:n-1 is bursting: 2 posts in an hour against a baseline of 0.1",
        post_keys=["twitter:0", "twitter:1"],
        post_count=2,
        narrative_id="n-1",
        cluster_id="c1",
        cascade_id="twitter:0",
        evidence=[{"signal": "burst", "score": 0.9, "on": "narrative:n-1", "detail": "2 posts/h vs 0.1"}],
    )
    docs[IndexKind.alerts]["a2"] = {
        "alert_id": "a2",
        "status": "new",
        "severity": "low",
        "rule": "hashtag-burst",
        "entity": "hashtag:#flood",
        "summary": "hashtag:#flood is bursting",
        "created_at": (T0.replace(hour=11)).isoformat(),
        "post_keys": ["twitter:3"],
    }
    store.watchlists.put([{"id": "mayor", "name": "Jane Mayor", "aliases": ["the mayor"]}])
    return store


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, InMemoryStore, dict[str, str], Settings]]:
    settings = Settings(state_dir=tmp_path / "state")
    store = dashboard_store()
    tokens, _ = api_paths(settings)
    keys = {role.value: tokens.create(f"{role.value} person", role) for role in Role}
    with served(create_app(settings, store)) as base:  # type: ignore[arg-type]  # the in-memory store
        yield base, store, keys, settings


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    # No script error, no blocked or failed request on any view (the wrong-token test's 401 is the one expected).
    assert [e for e in errors if "status of 401" not in e] == [], errors


def text(page: Page, selector: str = "main") -> str:
    return page.inner_text(selector)


def test_an_analyst_reads_an_alert_s_evidence_and_acknowledges_it(page: Page, site: Any) -> None:
    base, store, keys, settings = site
    sign_in(page, base, keys["analyst"])
    assert "analyst person (analyst)" in text(page, "#who")
    cards = page.locator("article.alert")
    assert cards.count() == 2
    first = cards.nth(0)  # newest first
    assert 'narrative "Ballots were shredded overnight in the county office" (n-1)' in first.inner_text()
    screenshot(page, "01-alerts-feed")

    first.get_by_role("button", name="Evidence").click()
    page.wait_for_selector("article.alert .brief blockquote")
    brief = first.inner_text()
    assert "Ballots were shredded overnight" in brief
    assert "burst (0.90) on narrative:n-1: 2 posts/h vs 0.1" in brief
    assert "twitter:u1" in brief and "twitter:u2" in brief  # the accounts behind it
    assert "manipulation score 0.93; strongest signal: face_swap (0.93)" in brief
    assert "matches a banked known fake" in brief
    screenshot(page, "02-alert-evidence")

    first.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("article.alert .badge.status").first).to_have_text("acknowledged")
    assert store.engine.docs[IndexKind.alerts]["a1"]["status"] == "acknowledged"
    _, audit = api_paths(settings)
    assert ("analyst person", "alert_acknowledged", "a1") in {
        (e["who"], e["action"], e["target"]) for e in audit.tail(50)
    }

    open_route(page, base, "#/alerts/a1")
    assert "high narrative-burst" in text(page, "h1")
    assert "acknowledged" in text(page) and "analyst person" in text(page)  # its history
    screenshot(page, "03-alert-page")


def _images_drawn(page: Page, count: int) -> None:
    """``count`` plots on the page, each a decoded image (the dashboard's CSP forbids wait_for_function's eval)."""
    plots = page.locator("img.plot")
    expect(plots).to_have_count(count)
    for i in range(count):
        plots.nth(i).evaluate("img => img.decode()")
        assert plots.nth(i).evaluate("img => img.naturalWidth") > 100


def test_the_views_an_analyst_follows_from_an_alert(page: Page, site: Any) -> None:
    base, _, keys, _ = site
    sign_in(page, base, keys["analyst"])

    open_route(page, base, "#/narratives/n-1")
    assert "Ballots were shredded overnight" in text(page, "blockquote")
    _images_drawn(page, 1)  # the narrative's timeline chart
    assert "post 0" in text(page)  # its earliest posts
    screenshot(page, "04-narrative")

    open_route(page, base, "#/spread/twitter:0")
    _images_drawn(page, 2)  # the reshare tree and the timeline
    assert "size" in text(page, "table") and "3 posts listed" in text(page)
    assert "1 of its 2 resharers reshared judged cascades" in text(page, "p.history")  # who reshared
    assert page.locator("main table").nth(1).locator("a").first.inner_text() == "twitter:u1"
    screenshot(page, "05-cascade")

    open_route(page, base, "#/clusters/c1")
    _images_drawn(page, 1)
    edges = text(page, "main")
    assert "twitter:1 and twitter:2 shared https://x.example" in edges
    screenshot(page, "06-cluster")

    open_route(page, base, "#/posts/twitter:1")
    assert "machine, score 0.88 (interval 0.81–0.90)" in text(
        page
    ) and "detector (0.88) on text: low perplexity" in text(page)
    assert "face_swap (0.93) on https://cdn.example/clip.mp4: blend seam" in text(page, ".panel.media")
    assert "lip_sync: face 1: audio 300 ms late" in text(page, ".panel.media .observations")
    screenshot(page, "07-post-media")

    open_route(page, base, "#/accounts/twitter:u1")
    assert "c1" in text(page) and "post 5" in text(page)
    screenshot(page, "08-account")

    open_route(page, base, "#/search?q=post")
    assert page.locator("main tbody tr").count() == 7
    screenshot(page, "09-search")


def test_watchlists_are_read_and_changed_in_the_page(page: Page, site: Any) -> None:
    base, store, keys, _ = site
    sign_in(page, base, keys["analyst"])
    open_route(page, base, "#/watchlists")
    assert "Jane Mayor" in text(page, "table")
    page.fill("input[name=id]", "flood")
    page.fill("input[name=name]", "Flood Relief")
    page.fill("input[name=aliases]", "the flood, relief fund")
    page.click("form.inline button[type=submit]")
    page.wait_for_selector("text=Flood Relief")
    assert {e["id"]: e["aliases"] for e in store.watchlists.entities()}["flood"] == ["the flood", "relief fund"]
    screenshot(page, "10-watchlists")
    page.locator("tr", has_text="Jane Mayor").get_by_role("button", name="Stop watching").click()
    expect(page.locator("main table")).not_to_contain_text("Jane Mayor")
    assert {e["id"] for e in store.watchlists.entities()} == {"flood"}


def test_an_analyst_judges_a_cascade_and_a_researcher_sees_the_verdict(page: Page, site: Any) -> None:
    base, store, keys, _ = site
    sign_in(page, base, keys["analyst"])
    open_route(page, base, "#/spread/twitter:0")
    assert "Not judged yet." in text(page, "p.verdict")
    page.fill("input[name=verdict-note]", "AFP fact-check 12/3")
    page.get_by_role("button", name="Judge false").click()
    expect(page.locator("p.verdict")).to_contain_text("judged false by analyst person")
    assert "AFP fact-check 12/3" in text(page, "p.verdict")
    assert store.verdicts.get("twitter:0")["verdict"] == "false"  # what `graph history --from-store` reads
    screenshot(page, "05b-cascade-verdict")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator("p.verdict")).to_contain_text("Not judged yet.")
    assert store.verdicts.get("twitter:0") is None
    page.get_by_role("button", name="Judge true").click()
    expect(page.locator("p.verdict")).to_contain_text("judged true")

    # A cascade judged before it merged into this one: its verdict shows here, naming it.
    stub = {"cascade_id": "twitter:90", "merged_into": "twitter:0", "size": 0, "members": [], "events": []}
    store.engine.docs[IndexKind.cascades]["twitter:90"] = stub
    store.verdicts.judge("twitter:0", "true", "analyst person")
    store.verdicts.put({"cascade_id": "twitter:90", "verdict": "false", "by": "x", "at": "2026-01-01T00:00:00+00:00"})

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, keys["researcher"])
    open_route(page, base, "#/spread/twitter:0")
    said = page.locator("p.verdict").all_inner_texts()
    assert len(said) == 2 and said[0].startswith("judged true by analyst person")
    assert said[1].startswith("Before merging into this cascade, twitter:90 was judged false by x")
    assert page.locator(".verdict-actions").count() == 0
    assert page.get_by_role("button", name="Withdraw").count() == 0

    # An analyst withdraws the merged part's verdict from here: it is kept under twitter:90, the own one stays.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, keys["analyst"])
    open_route(page, base, "#/spread/twitter:0")
    page.get_by_role("button", name="Withdraw twitter:90's verdict").click()
    expect(page.locator("p.verdict")).to_have_count(1)
    assert store.verdicts.get("twitter:90") is None and store.verdicts.get("twitter:0")["verdict"] == "true"
    page.wait_for_load_state("networkidle")  # the re-rendered view's plots, before the server stops


def test_a_researcher_sees_pseudonyms_and_no_actions(page: Page, site: Any) -> None:
    base, _, keys, _ = site
    sign_in(page, base, keys["researcher"])
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    open_route(page, base, "#/alerts/a1")
    body = text(page)
    assert "Ballots were shredded overnight" in body
    assert "twitter:u1" not in body and "handle_u1" not in body
    assert page.locator("a[href^='#/accounts/']").count() == 0
    open_route(page, base, "#/narratives/n-1")
    body = text(page)
    assert "anon:" in body and "twitter:anon:" not in body and "twitter:u1" not in body
    open_route(page, base, "#/watchlists")
    assert page.locator("form.inline").count() == 0
    screenshot(page, "11-researcher")


def test_post_text_is_shown_never_run(page: Page, site: Any) -> None:
    base, _, keys, _ = site
    sign_in(page, base, keys["analyst"])
    open_route(page, base, "#/posts/twitter:3")
    assert SCRIPTED in text(page, "blockquote")
    assert page.evaluate("window.pwned") is None


def test_a_wrong_token_is_refused_with_a_reason(page: Page, site: Any) -> None:
    base, *_ = site
    page.goto(f"{base}/")
    page.fill("input[name=token]", "fw_" + "x" * 43)
    page.click("button[type=submit]")
    page.wait_for_selector("form.login .error")
    assert "refused the token" in text(page, "form.login")
    assert page.locator("#nav").is_hidden()


def test_a_case_is_opened_filled_from_the_views_and_exported(page: Page, site: Any) -> None:
    base, store, keys, _ = site
    sign_in(page, base, keys["analyst"])
    open_route(page, base, "#/cases")
    page.fill("input[name=name]", "Shredded ballots rumour")
    page.click("form.inline button[type=submit]")
    page.wait_for_selector("h1:has-text('Case: Shredded ballots rumour')")
    case_id = page.url.rsplit("/", 1)[-1]

    for route, kind in (("#/alerts/a1", "alert"), ("#/posts/twitter:1", "post"), ("#/clusters/c1", "cluster")):
        open_route(page, base, route)
        page.get_by_role("button", name=f"Add {kind} to a case").click()
        page.locator(".add-to-case select").select_option(case_id)
        page.locator(".add-to-case").get_by_role("button", name="Add").click()
        expect(page.locator(".add-to-case")).to_contain_text("Added to Shredded ballots rumour")
    items = store.cases.get(case_id)["items"]
    assert [(i["kind"], i["ref"], i["added_by"]) for i in items] == [
        ("alert", "a1", "analyst person"),
        ("post", "twitter:1", "analyst person"),
        ("cluster", "c1", "analyst person"),
    ]

    open_route(page, base, f"#/cases/{case_id}")
    page.fill("input[name=text]", "Same wording, same hour, one cluster.")
    page.click("form.inline button[type=submit]")
    expect(page.locator("ul.evidence")).to_contain_text("analyst person: Same wording, same hour, one cluster.")
    with page.expect_download() as saved:
        page.get_by_role("button", name="Evidence bundle (zip)").click()
    bundle = saved.value
    assert bundle.suggested_filename == f"{case_id}.zip"
    with zipfile.ZipFile(bundle.path()) as z:
        assert {"manifest.json", "items.json"} <= set(z.namelist())
    screenshot(page, "12-case")


def test_a_researcher_reads_and_exports_cases_but_does_not_change_them(page: Page, site: Any) -> None:
    base, _, keys, _ = site
    sign_in(page, base, keys["researcher"])
    open_route(page, base, "#/cases/case-abc123")
    assert "Case: Known" in text(page, "h1")
    assert page.get_by_role("button", name="STIX 2.1 bundle").count() == 1  # exports are pseudonymised
    assert page.locator("form.inline").count() == 0
    open_route(page, base, "#/posts/twitter:1")
    assert page.get_by_role("button", name="Add post to a case").count() == 0
