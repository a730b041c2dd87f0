"""Table tests of the pure parsing rules in sorastats.parse."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import orjson
import pytest

from sorastats import parse


def make_post(**overrides: Any) -> dict[str, Any]:
    post: dict[str, Any] = {
        "id": "s_" + "a" * 32,
        "shared_by": "user-" + "b" * 24,
        "posted_to_public": True,
        "posted_at": 1760929314.191834,
        "updated_at": 1760929315.5,
        "like_count": 3,
        "view_count": 10,
        "source": "sy",
        "text": "a cat",
        "attachments": [
            {
                "width": 352,
                "height": 640,
                "n_frames": 300,
                "generation_id": "gen_1",
                "encodings": {
                    "thumbnail": {"path": "https://v/x.webp?se=2025-10-26T03%3A01%3A59Z&sig=R"},
                    "md": {"path": "https://v/x.mp4?se=2025-10-27T00%3A00%3A00Z&sig=R"},
                },
            }
        ],
        "permissions": {"share_setting": "public", "can_read": True},
        "tombstoned_at": None,
    }
    post.update(overrides)
    return post


def make_profile(**overrides: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "user_id": "user-" + "b" * 24,
        "username": "creator_1",
        "follower_count": 5,
        "created_at": 1760064709.8,
        "is_following": True,
        "follows_you": False,
    }
    profile.update(overrides)
    return profile


@pytest.mark.parametrize(
    ("doc", "shape"),
    [
        ({"items": [{"post": {}, "profile": {}}], "cursor": None}, parse.Shape.FEED_PAGE),
        ({"items": [], "cursor": None}, parse.Shape.FEED_PAGE),
        ({"items": [{"user_id": "user-x", "username": "u"}]}, parse.Shape.PROFILE_LIST),
        ({"post": {}, "profile": {}}, parse.Shape.WRAPPER),
        ({"post": {}, "profile": {}, "children": {"items": []}}, parse.Shape.POST_TREE),
        ({"items": [{"_raw": {"post": {}, "profile": {}}, "id": 1}]}, parse.Shape.MANIFEST),
    ],
)
def test_detect_shape(doc: Any, shape: parse.Shape) -> None:
    assert parse.detect_shape(doc) is shape


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ([1, 2], "expected a JSON object at the top, got a list"),
        ("text", "got a string"),
        ({"hello": 1}, "no 'post' or 'items' key"),
        ({"items": {"a": 1}}, "'items' is an object, expected a list"),
        ({"post": "s_1"}, "'post' is a string"),
        ({"items": [{"foo": 1}]}, "neither"),
    ],
)
def test_detect_shape_rejects_unknown_documents(doc: Any, reason: str) -> None:
    with pytest.raises(parse.BadRecord, match=reason):
        parse.detect_shape(doc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0, datetime(1970, 1, 1)),
        (1760929314.191834, datetime(2025, 10, 20, 3, 1, 54, 191834)),
        (1760929314, datetime(2025, 10, 20, 3, 1, 54)),
    ],
)
def test_unix_to_utc(value: Any, expected: datetime | None) -> None:
    assert parse.unix_to_utc(value) == expected


@pytest.mark.parametrize("value", ["1760929314", True, {"t": 1}, [1], 1e20])
def test_unix_to_utc_rejects(value: Any) -> None:
    with pytest.raises(parse.BadRecord):
        parse.unix_to_utc(value, "posted_at")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1760929314.5, datetime(2025, 10, 20, 3, 1, 54, 500000)),
        ("2025-10-20T03:01:54Z", datetime(2025, 10, 20, 3, 1, 54)),
        ("2025-10-20T05:01:54+02:00", datetime(2025, 10, 20, 3, 1, 54)),
        ("2025-10-20 03:01:54", datetime(2025, 10, 20, 3, 1, 54)),
        (None, None),
    ],
)
def test_parse_capture_time(value: Any, expected: datetime | None) -> None:
    assert parse.parse_capture_time(value) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://videos.openai.com/a/src.mp4?se=2025-10-26T03%3A01%3A59Z&sp=r&sig=REDACTED",
            datetime(2025, 10, 26, 3, 1, 59),
        ),
        ("https://x/y?sp=r&se=2025-11-14T00:00:00Z", datetime(2025, 11, 14)),
        ("https://cdn.openai.com/sora/images/profile_placeholder_v4.png", None),
        ("https://x/y?se=garbage", None),
        (None, None),
        (42, None),
    ],
)
def test_media_expiry(url: Any, expected: datetime | None) -> None:
    assert parse.media_expiry(url) == expected


@pytest.mark.parametrize(
    ("overrides", "public"),
    [
        ({}, True),
        ({"posted_to_public": False}, False),
        ({"posted_to_public": None}, False),
        ({"permissions": {"share_setting": "unlisted"}}, False),
        ({"permissions": {"share_setting": "private"}}, False),
        ({"permissions": None}, False),
        ({"permissions": {}}, False),
    ],
)
def test_is_public(overrides: dict[str, Any], public: bool) -> None:
    assert parse.is_public(make_post(**overrides)) is public


@pytest.mark.parametrize(
    ("overrides", "comment"),
    [
        ({}, False),
        ({"id": "c12c9d050bcb1c08fe6d9c68523c9b29", "source": "project_y"}, True),
        ({"id": "c12c9d050bcb1c08fe6d9c68523c9b29"}, True),
        ({"source": "project_y"}, True),
    ],
)
def test_is_comment(overrides: dict[str, Any], comment: bool) -> None:
    assert parse.is_comment(make_post(**overrides)) is comment


def test_extract_post_fields() -> None:
    facts = parse.extract_post(make_post())
    assert facts.id == "s_" + "a" * 32
    assert facts.posted_at == datetime(2025, 10, 20, 3, 1, 54, 191834)
    assert (facts.width, facts.height, facts.n_frames, facts.duration_s) == (352, 640, 300, 10.0)
    assert facts.media_expires_at == datetime(2025, 10, 26, 3, 1, 59)  # the earlier of the two
    assert facts.thumbnail_url is not None and facts.video_url is not None
    assert facts.counters[0] == 3  # like_count
    assert facts.public and not facts.comment and facts.tombstoned_at is None


def test_extract_post_prefers_duration_s() -> None:
    post = make_post()
    post["attachments"][0]["duration_s"] = 15.0
    assert parse.extract_post(post).duration_s == 15.0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"id": None}, r"post\.id is missing"),
        ({"id": ""}, r"post\.id is missing"),
        ({"id": 12}, r"post\.id is missing"),
        ({"shared_by": None}, r"post\.shared_by is missing"),
        ({"like_count": "12"}, r"post\.like_count is a string, expected an integer"),
        ({"like_count": 1.5}, r"post\.like_count is a number, expected an integer"),
        ({"view_count": True}, r"post\.view_count is a boolean"),
        ({"text": {"a": 1}}, r"post\.text is an object, expected a string"),
        ({"posted_at": "yesterday"}, r"post\.posted_at is a string"),
        ({"permissions": "public"}, r"post\.permissions is a string"),
        ({"attachments": {"0": {}}}, r"post\.attachments is an object"),
        ({"attachments": ["x"]}, r"attachments\[0\] is a string"),
        ({"posted_to_public": "yes"}, r"posted_to_public is a string"),
        ({"like_count": 2**70}, r"out of range"),
    ],
)
def test_extract_post_rejects_wrong_types(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(parse.BadRecord, match=reason):
        parse.extract_post(make_post(**overrides))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"user_id": None}, "user_id is missing"),
        ({"username": None}, "username is missing"),
        ({"follower_count": "5"}, "follower_count is a string"),
        ({"description": ["x"]}, "description is a list"),
        ({"verified": "no"}, "verified is a string"),
    ],
)
def test_extract_profile_rejects_wrong_types(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(parse.BadRecord, match=reason):
        parse.extract_profile(make_profile(**overrides))


def test_extract_profile_tolerates_missing_and_unknown_fields() -> None:
    facts = parse.extract_profile(make_profile(brand_new_field={"x": 1}))
    assert facts.username == "creator_1"
    assert facts.counters[0] == 5 and facts.counters[-1] is None  # character_count absent


def test_strip_viewer_fields_everywhere() -> None:
    doc = {
        "post": make_post(user_liked=True, is_owner=True, cameo_profiles=[make_profile()]),
        "profile": make_profile(),
    }
    parse.strip_viewer_fields(doc)
    text = repr(doc)
    for name in ("user_liked", "is_owner", "is_following", "follows_you", "can_read"):
        assert name not in text
    assert doc["post"]["permissions"] == {"share_setting": "public"}


def test_flatten_yields_each_nested_wrapper_once_and_cuts_them() -> None:
    parent = {"post": make_post(id="s_parent"), "profile": make_profile()}
    remix = {"post": make_post(id="s_remix", parent_post=copy.deepcopy(parent))}
    comment = {"post": make_post(id="c1", source="project_y"), "profile": make_profile()}
    top: dict[str, Any] = {
        "post": make_post(
            id="s_top",
            parent_post=parent,
            remix_posts={"items": [remix], "cursor": None},
            ancestors={"items": [], "cursor": None},
        ),
        "profile": make_profile(),
        "children": {"items": [comment], "cursor": None},
        "cursor": None,
    }
    ids = [w["post"]["id"] for w in parse.flatten(top)]
    assert sorted(ids) == sorted(["s_top", "s_parent", "s_remix", "s_parent", "c1"])
    assert "parent_post" not in top["post"] and "remix_posts" not in top["post"]
    assert "children" not in top


def test_flatten_ignores_junk_in_nested_lists() -> None:
    top = {"post": make_post(remix_posts={"items": ["junk", None]}, parent_post="x")}
    assert [w["post"]["id"] for w in parse.flatten(top)] == ["s_" + "a" * 32]


_E = "user-eeeeeeeeeeeeeeeeeeeeeeee"
_K = "user-kkkkkkkkkkkkkkkkkkkkkkkk"


def _w(pid: str, by: str, **post: Any) -> dict[str, Any]:
    return {"post": {"id": pid, "shared_by": by, **post}, "profile": {"user_id": by}}


@pytest.mark.parametrize(
    ("doc", "expected", "removed"),
    [
        # their post goes whole, with what is nested in it
        (_w("s_1", _E), None, 1),
        ({"items": [_w("s_1", _E), _w("s_2", _K)]}, {"items": [_w("s_2", _K)]}, 1),
        # a cameo in someone else's video
        (
            _w("s_2", _K, cameo_profiles=[{"user_id": _E}, {"user_id": _K}]),
            _w("s_2", _K, cameo_profiles=[{"user_id": _K}]),
            1,
        ),
        # a profile listing, and a bare profile at the top
        ({"items": [{"user_id": _K}, {"user_id": _E}]}, {"items": [{"user_id": _K}]}, 1),
        ({"user_id": _E, "username": "x"}, None, 1),
        # a wrapper naming no author but whose profile is theirs goes whole
        (
            {"items": [{"post": {"id": "s_3"}, "profile": {"user_id": _E}}]},
            {"items": []},
            1,
        ),
        # their reply under someone else's post, and their post as a remix's parent
        (
            {**_w("s_2", _K), "children": {"items": [_w("c_1", _E), _w("c_2", _K)]}},
            {**_w("s_2", _K), "children": {"items": [_w("c_2", _K)]}},
            1,
        ),
        (
            _w("s_4", _K, parent_post=_w("s_1", _E)),
            _w("s_4", _K),
            1,
        ),
        # nothing of theirs: untouched; a username equal to the id is not an id
        (_w("s_2", _K, text=_E), _w("s_2", _K, text=_E), 0),
        ({"items": []}, {"items": []}, 0),
    ],
)
def test_without_creators(doc: Any, expected: Any, removed: int) -> None:
    line = orjson.dumps(doc)
    assert parse.names_creators(line, {_E}) is (removed > 0)
    assert parse.without_creators(doc, frozenset({_E})) == (expected, removed)


def test_without_creators_with_nobody_erased_is_the_document_itself() -> None:
    doc = _w("s_1", _E)
    assert parse.without_creators(doc, frozenset()) == (doc, 0)
