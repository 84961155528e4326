"""Hashtag, URL and mention extraction: known cases from the datasets, and properties on any text."""

from __future__ import annotations

from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.replay.text_entities import (
    EntityStyle,
    extract_entities,
    extract_hashtags,
    extract_mentions,
    extract_urls,
    unescape_html,
)

STYLES: st.SearchStrategy[EntityStyle] = st.sampled_from(["twitter", "weibo", "bluesky"])
# Text rich in the characters the extractors care about, mixed with arbitrary Unicode.
ENTITY_TEXT = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(["#", "＃", "@", "＠", "http://", "https://", "&", ";", "(", ")", " ", "\n", "//@", "月"]),
        st.from_regex(r"[#@][A-Za-z0-9_]{1,20}", fullmatch=True),
        st.from_regex(r"https?://[a-z]{1,8}\.[a-z]{2,3}/[A-Za-z0-9()._-]{0,10}", fullmatch=True),
    ),
    max_size=25,
).map("".join)


def test_ira_tweet_entities() -> None:
    text = "This is a great comeback for all of that “I don’t see race.” BS #racism #blm https://t.co/A6OtcSvjS9"
    entities = extract_entities(text)
    assert entities.hashtags == ["racism", "blm"]
    assert entities.urls == ["https://t.co/A6OtcSvjS9"]
    assert entities.mentions == []


def test_twitter_rules() -> None:
    text = "RT @ScottClendaniel: TY @TM_CE! mail me@example.com #MAGA #2016 #tag2016 &#8217; #MAGA"
    assert extract_mentions(text) == ["ScottClendaniel", "TM_CE"]
    assert extract_hashtags(text) == ["MAGA", "tag2016"], "digits-only tags, entities and repeats excluded"
    assert extract_mentions("@a_handle_that_is_far_too_long") == []
    assert extract_hashtags("＃全角 and #Ünïcödé") == ["全角", "Ünïcödé"]


def test_url_trailing_punctuation_and_brackets() -> None:
    text = "see (https://example.com/a_(b)) and https://t.co/x. or http://t.cn/hgo3Ce转发 https://"
    assert extract_urls(text) == ["https://example.com/a_(b)", "https://t.co/x", "http://t.cn/hgo3Ce"]


def test_weibo_topics_and_nicknames() -> None:
    text = "#成都暴雨# 好想切看噢[偷笑]//@未来使者2112:这条路 @Sunny小肥肥:这个凶@-咬人猫xs-: 转发@用户 a@qq.com"
    assert extract_hashtags(text, "weibo") == ["成都暴雨"]
    assert extract_mentions(text, "weibo") == ["未来使者2112", "Sunny小肥肥", "-咬人猫xs-", "用户"]


def test_bluesky_handles_are_domains() -> None:
    assert extract_mentions("hi @alice.bsky.social and @bob, @carol.example.com.", "bluesky") == [
        "alice.bsky.social",
        "carol.example.com",
    ]


def test_unescape_only_complete_entities() -> None:
    assert unescape_html("Doing What&#8217;s Right &amp; more") == "Doing What’s Right & more"
    assert unescape_html("AT&T &notice &wise; plain") == "AT&T &notice &wise; plain"


@settings(max_examples=150, deadline=None)
@given(ENTITY_TEXT, STYLES)
def test_extractors_never_crash_and_return_substrings(text: str, style: EntityStyle) -> None:
    entities = extract_entities(text, style)
    for url in entities.urls:
        assert url in text
        assert url.lower().startswith(("http://", "https://"))
        assert len(url) > len("https://") - 1
    for tag in entities.hashtags:
        assert tag and tag in text
        assert f"#{tag}" in text or f"＃{tag}" in text or style == "weibo"
    for handle in entities.mentions:
        assert handle and (f"@{handle}" in text or f"＠{handle}" in text)
    for values in (entities.urls, entities.hashtags, entities.mentions):
        assert len(values) == len(set(values)), "values are de-duplicated"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_extractors_accept_any_unicode(text: str) -> None:
    for style in get_args(EntityStyle):
        extract_entities(text, style)
    assert unescape_html(text) == text or "&" in text


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True), st.text(alphabet=" .,!?\n", max_size=3))
def test_a_well_formed_hashtag_is_always_found(tag: str, tail: str) -> None:
    assert extract_hashtags(f"pre #{tag}{tail}") == [tag]
    assert extract_hashtags(f"pre #{tag}#{tail}", "weibo") == [tag]
