"""The Reddit connectors against local servers that speak Reddit's API with its recorded payloads: the Betamax
cassettes replayed, and a live stand-in (``tests.platform_servers.reddit``) for cursors and the comment stream.

Waits are recorded, not slept (``sleep=``), so retry and polling schedules are what is checked."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from flockwatch.adapters.connectors.base import Batch
from flockwatch.adapters.connectors.http_api import ApiClient, ApiError, Refused
from flockwatch.adapters.connectors.reddit import (
    comments_connector,
    flatten,
    listing_connector,
    subreddit_name,
    thread_connector,
)
from flockwatch.config import Settings
from flockwatch.replay import normalize_record
from tests.platform_servers.cassettes import Cassettes, reddit_cassettes, reddit_children
from tests.platform_servers.http import PlatformServer, Request, Response, serve
from tests.platform_servers.reddit import RedditSite, renumbered

FOLDER = Settings().data_dir / "connectors/reddit"
NO_CREDENTIALS = Settings(reddit_client_id="", reddit_user_agent="python:flockwatch-test:1.0 (by /u/tester)")
CREDENTIALS = Settings(reddit_client_id="app-id", reddit_client_secret=SecretStr("app-secret"))


def recorded(name: str) -> list[dict[str, Any]]:
    return reddit_children(FOLDER)[name]


@pytest.fixture
def cassette() -> Iterator[tuple[PlatformServer, Cassettes]]:
    answer = reddit_cassettes(FOLDER)
    with serve(answer) as server:
        answer.server = server
        yield server, answer


def client(base: str, slept: list[float], **kw: Any) -> ApiClient:
    return ApiClient(endpoint=base, sleep=slept.append, timeout_s=kw.pop("timeout_s", 2.0), **kw)


def ids(batches: Iterator[Batch] | list[Batch]) -> list[str]:
    return [r.position or "" for b in batches for r in b.records]


@pytest.mark.parametrize("listing", ["hot", "new", "rising"])
def test_listings_replay_every_recorded_submission(cassette: tuple[PlatformServer, Cassettes], listing: str) -> None:
    server, _ = cassette
    slept: list[float] = []
    connector = listing_connector(
        NO_CREDENTIALS, subreddit="askreddit", listing=listing, endpoint=server.url, client=client(server.url, slept)
    )
    batches = list(connector.batches(None))
    expected = [c["data"]["id"] for c in recorded(f"TestSubredditListings.test_{listing}.json")]
    assert ids(batches) == expected
    assert connector.cursor_key == f"reddit:r/askreddit/{listing}"
    # new keeps its newest fullname (in a last, empty batch, once every page is written); rankings have none.
    cursors = [b.cursor for b in batches if b.cursor]
    assert cursors == (["t3_" + max(expected, key=lambda i: int(i, 36))] if listing == "new" else [])
    first = server.requests[0]
    assert first.path == f"/r/askreddit/{listing}" and first.query == {"limit": ["100"], "raw_json": ["1"]}
    assert first.headers["User-Agent"] == NO_CREDENTIALS.reddit_user_agent and "Authorization" not in first.headers
    # The recorded listing says there is more (`after`); the cassette has no second page: the pull keeps page one.
    assert "after" in server.requests[1].query and len(server.requests) == 2


def test_app_only_oauth_when_credentials_are_set(cassette: tuple[PlatformServer, Cassettes]) -> None:
    server, _ = cassette
    connector = listing_connector(
        CREDENTIALS, subreddit="askreddit", listing="hot", endpoint=server.url, client=client(server.url, [])
    )
    assert len(ids(connector.batches(None))) == 102
    token, listing = server.requests[0], server.requests[1]
    assert (token.method, token.path, token.body) == ("POST", "/api/v1/access_token", b"grant_type=client_credentials")
    assert token.headers["Authorization"] == "Basic " + base64.b64encode(b"app-id:app-secret").decode()
    assert listing.headers["Authorization"] == "bearer <ACCESS_TOKEN>"  # the recorded token, sent back
    assert len([r for r in server.requests if r.method == "POST"]) == 1  # the token is kept for the next pages


def test_without_an_endpoint_public_json_pages_or_oauth_api_are_asked() -> None:
    public = listing_connector(NO_CREDENTIALS, subreddit="r/Python", listing="new", endpoint=None)
    assert public.pager.api.url("/r/Python/new") == "https://www.reddit.com/r/Python/new.json"
    oauth = listing_connector(CREDENTIALS, subreddit="Python", listing="new", endpoint=None)
    assert oauth.pager.api.url("/r/Python/new") == "https://oauth.reddit.com/r/Python/new"
    with pytest.raises(ValueError, match="not a subreddit"):
        subreddit_name("../../etc")
    with pytest.raises(ValueError, match="unknown listing"):
        listing_connector(NO_CREDENTIALS, subreddit="python", listing="top", endpoint=None)


def test_an_endpoint_that_wants_json_suffixes_gets_them() -> None:
    site = RedditSite(hot=recorded("TestSubredditListings.test_hot.json"))

    def only_json(request: Request) -> Response:
        return site(request) if request.path.endswith(".json") else Response(404, b"{}")

    with serve(only_json) as server:
        connector = listing_connector(
            NO_CREDENTIALS, subreddit="askreddit", listing="hot", endpoint=server.url, client=client(server.url, [])
        )
        assert len(set(ids(connector.batches(None)))) == 102
        assert [r.path for r in server.requests][:2] == ["/r/askreddit/hot", "/r/askreddit/hot.json"]


@pytest.mark.parametrize(
    ("faults", "waits"),
    [
        (["429", "429"], [3.0, 3.0]),  # Retry-After: 3
        (["503"], None),
        (["truncate"], None),
        (["hang"], None),
    ],
)
def test_bad_answers_are_retried_without_duplicates_or_gaps(
    cassette: tuple[PlatformServer, Cassettes], faults: list[str], waits: list[float] | None
) -> None:
    server, _ = cassette
    server.faults.queue = list(faults)
    server.faults.hang_s = 1.5
    slept: list[float] = []
    connector = listing_connector(
        NO_CREDENTIALS,
        subreddit="askreddit",
        listing="new",
        endpoint=server.url,
        client=client(server.url, slept, timeout_s=0.5),
    )
    got = ids(connector.batches(None))
    assert got == [c["data"]["id"] for c in recorded("TestSubredditListings.test_new.json")]
    assert len(server.paths("/r/askreddit/new")) == len(faults) + 2  # the retries, page one, the unrecorded page two
    assert len(slept) == len(faults)
    if waits is not None:
        assert slept == waits


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/r/askreddit/new", "http://169.254.169.254/latest/"])
def test_redirects_to_private_addresses_off_the_endpoint_are_refused(
    cassette: tuple[PlatformServer, Cassettes], target: str
) -> None:
    server, _ = cassette
    server.faults.queue = ["redirect:" + target.format(port=server.server_address[1])]
    connector = listing_connector(
        NO_CREDENTIALS, subreddit="askreddit", listing="new", endpoint=server.url, client=client(server.url, [])
    )
    with pytest.raises(Refused):
        list(connector.batches(None))
    assert len(server.requests) == 1  # nothing was asked of the redirect's target


def test_a_non_endpoint_origin_on_a_private_address_is_refused(cassette: tuple[PlatformServer, Cassettes]) -> None:
    server, _ = cassette
    other = ApiClient(endpoint="https://reddit.example", sleep=lambda _seconds: None)
    connector = listing_connector(
        NO_CREDENTIALS, subreddit="askreddit", listing="hot", endpoint=server.url.replace("127.0.0.1", "localhost")
    )
    connector.pager.api.client = other
    with pytest.raises(Refused, match="refused host localhost"):
        list(connector.batches(None))
    assert server.requests == []


def new_site(count: int) -> RedditSite:
    site = RedditSite()
    site.pending = renumbered(recorded("TestSubredditListings.test_new.json"), count)
    return site


def test_new_resumes_after_its_cursor_with_before_and_nothing_twice() -> None:
    site = new_site(400)
    site.publish(150)
    with serve(site) as server:
        connector = listing_connector(
            NO_CREDENTIALS, subreddit="askreddit", listing="new", endpoint=server.url, client=client(server.url, [])
        )
        first = list(connector.batches(None))
        published = [c["data"]["id"] for c in site.published]
        assert sorted(ids(first)) == sorted(published) and len(ids(first)) == 150
        cursor = first[-1].cursor
        assert cursor == f"t3_{published[-1]}" and not first[-1].records
        site.publish(130)
        server.requests.clear()
        second = list(connector.batches(cursor))
        newer = [c["data"]["id"] for c in site.published[150:]]
        assert sorted(ids(second)) == sorted(newer)  # exactly the 130 newer ones
        assert [r.query.get("before") for r in server.requests] == [[cursor], [f"t3_{newer[99]}"], [f"t3_{newer[-1]}"]]
        assert [b.cursor for b in second] == [f"t3_{newer[99]}", f"t3_{newer[-1]}"]
        # The cursor's submission is deleted: `before` it is empty for ever, so the pull reads down to it.
        site.deleted.add(second[-1].cursor or "")
        site.publish(5)
        third = list(connector.batches(second[-1].cursor))
        assert sorted(ids(third)) == sorted(c["data"]["id"] for c in site.published[-5:])
        assert third[-1].cursor == f"t3_{site.published[-1]['data']['id']}"


def test_thread_flattens_the_recorded_comment_tree(cassette: tuple[PlatformServer, Cassettes]) -> None:
    server, _ = cassette
    connector = thread_connector(
        NO_CREDENTIALS, post_id="t3_2gmzqe", endpoint=server.url, client=client(server.url, [])
    )
    (batch,) = list(connector.batches(None))
    assert [r.position for r in batch.records] == ["2gmzqe", "cklfmye", "cklhv0f"]
    assert server.requests[0].path == "/comments/2gmzqe" and connector.cursor_key == "reddit:thread/2gmzqe"
    posts = [normalize_record(r) for r in batch.records]
    assert [p.reply_to for p in posts if p] == [None, "2gmzqe", "cklfmye"]
    assert all("replies" not in r.payload["data"] for r in batch.records)


def test_more_stubs_are_kept_as_records_but_are_not_posts() -> None:
    tree = recorded("TestSubmission.test_comments.json")
    stub = {"kind": "more", "data": {"count": 12, "children": ["ab1", "ab2"], "id": "ab1", "parent_id": "t1_cklfmye"}}
    comment = tree[1]
    nested = {**comment, "data": {**comment["data"], "replies": {"kind": "Listing", "data": {"children": [stub]}}}}
    flat = flatten([tree[0], nested])
    assert [c["kind"] for c in flat] == ["t3", "t1", "more"]  # type: ignore[index]
    site = RedditSite(threads={"2gmzqe": [{"kind": "Listing", "data": {"children": [tree[0]]}},
                                          {"kind": "Listing", "data": {"children": [nested]}}]})  # fmt: skip
    with serve(site) as server:
        connector = thread_connector(
            NO_CREDENTIALS, post_id="2gmzqe", endpoint=server.url, client=client(server.url, [])
        )
        records = [r for b in connector.batches(None) for r in b.records]
    assert [normalize_record(r) is None for r in records] == [False, False, True]


def test_the_recorded_comment_stream_is_followed_like_praw(cassette: tuple[PlatformServer, Cassettes]) -> None:
    """PRAW's recording: the newest comments, then ``before`` the newest (empty), then the newest again. The
    stream's next request (``before`` the new newest) was never recorded: the cassette ends there with a 404."""
    server, _ = cassette
    stream = comments_connector(
        NO_CREDENTIALS, subreddit="kakapo", endpoint=server.url, client=client(server.url, []), idle_timeout_s=60.0
    )
    got: list[str] = []
    with pytest.raises(ApiError) as caught:
        for batch in stream.batches(None):
            got += ids([batch])
    assert caught.value.status == 404 and "before=" in str(caught.value)
    recorded_pages = recorded("TestSubredditStreams.test_comments__with_pause.json")
    first = [c["data"]["id"] for c in recorded_pages[:16]]
    second = [c["data"]["id"] for c in recorded_pages[16:]]
    newer = [i for i in second if int(i, 36) > max(int(j, 36) for j in first)]
    assert newer and got == first + newer and len(got) == len(set(got))
    assert server.requests[1].query["before"] == [f"t1_{first[0]}"] and "before" not in server.requests[2].query


class Clock:
    """Fake time: ``wait`` records each wait, moves the clock on and posts what the script says."""

    def __init__(self, site: RedditSite, script: list[int]) -> None:
        self.now, self.site, self.script = 0.0, site, script
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.site.publish(self.script.pop(0) if self.script else 0)


def test_the_comment_stream_polls_with_growing_waits_and_misses_nothing() -> None:
    site = RedditSite()
    site.pending = renumbered(recorded("TestSubredditStreams.test_comments__with_pause.json"), 260)
    site.publish(30)
    clock = Clock(site, [0, 0, 0, 150, 0, 0, 0, 0, 0, 0, 80])  # what is posted during each wait
    with serve(site) as server:
        stream = comments_connector(
            NO_CREDENTIALS,
            subreddit="kakapo",
            endpoint=server.url,
            client=ApiClient(endpoint=server.url, sleep=clock.wait),
            idle_timeout_s=120.0,
            clock=clock,
        )
        got = ids(stream.batches(None))
    assert sorted(got) == sorted(c["data"]["id"] for c in site.published) and len(got) == len(set(got)) == 260
    planned = [1, 2, 4, 8, 1, 2, 4, 8, 16, 16, 16]  # doubled while quiet, reset by new comments
    assert all(abs(s - p) <= p / 16 for s, p in zip(clock.slept, planned, strict=False))  # jittered by 1/16
    assert 120 <= sum(clock.slept[11:]) < 120 + 17  # then quiet until the idle timeout


def test_the_stream_survives_a_poll_that_keeps_failing() -> None:
    site = RedditSite()
    site.pending = renumbered(recorded("TestSubredditStreams.test_comments__with_pause.json"), 40)
    site.publish(40)
    clock = Clock(site, [])
    with serve(site) as server:
        server.faults.queue = ["503"] * 6  # the first poll's whole retry budget
        stream = comments_connector(
            NO_CREDENTIALS,
            subreddit="kakapo",
            endpoint=server.url,
            client=ApiClient(endpoint=server.url, sleep=clock.wait),
            idle_timeout_s=60.0,  # longer than the failing poll's retries
            clock=clock,
        )
        got = ids(stream.batches(None))
    assert sorted(got) == sorted(c["data"]["id"] for c in site.published) and len(got) == 40


def test_refusals_end_the_stream(cassette: tuple[PlatformServer, Cassettes]) -> None:
    server, _ = cassette
    stream = comments_connector(
        NO_CREDENTIALS, subreddit="nosuchsub", endpoint=server.url, client=client(server.url, [])
    )
    with pytest.raises(ApiError) as caught:
        list(stream.batches(None))
    assert caught.value.status == 404


def test_a_spent_rate_limit_budget_is_waited_out_before_the_next_page() -> None:
    site = new_site(150)
    site.publish(150)
    site.headers = [("X-Ratelimit-Used", "600"), ("X-Ratelimit-Remaining", "0.0"), ("X-Ratelimit-Reset", "42")]
    slept: list[float] = []
    with serve(site) as server:
        connector = listing_connector(
            NO_CREDENTIALS, subreddit="askreddit", listing="new", endpoint=server.url, client=client(server.url, slept)
        )
        assert len(ids(connector.batches(None))) == 150
    assert len(slept) == 1 and 41 < slept[0] <= 42  # before page two (page two is the last)


def test_an_expired_token_is_renewed_once() -> None:
    site = new_site(10)
    site.publish(10)
    site.require_token = True
    with serve(site) as server:
        connector = listing_connector(
            CREDENTIALS, subreddit="askreddit", listing="new", endpoint=server.url, client=client(server.url, [])
        )
        api = connector.pager.api
        api._token, api._token_until = "expired", float("inf")
        assert len(ids(connector.batches(None))) == 10
        assert site.tokens_issued == 1
        assert [r.path for r in server.requests][:3] == ["/r/askreddit/new", "/api/v1/access_token", "/r/askreddit/new"]


def test_a_scheduled_pull_of_comments_polls_once() -> None:
    site = RedditSite()
    site.publish_all(renumbered(recorded("TestSubredditStreams.test_comments__with_pause.json"), 30))
    with serve(site) as server:
        once = comments_connector(
            NO_CREDENTIALS, subreddit="kakapo", endpoint=server.url, follow=False, client=client(server.url, [])
        )
        assert not once.streaming
        first = list(once.batches(None))
        assert len(ids(first)) == 30 and len(server.requests) == 1
        site.publish_all(renumbered([c for c in site.published], 5))
        assert len(ids(once.batches(first[-1].cursor))) == 5
