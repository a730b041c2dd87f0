"""Pure parsing of the Sora feed format: shape detection, nested-wrapper flattening,
typed field extraction, visibility rules and time conversion. No I/O here.

Everything the ingest stores about a post or a profile passes through `extract_post` /
`extract_profile`, which check types and raise `BadRecord` with a reason for quarantine.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sorastats.schema import CREATOR_COUNTERS, POST_COUNTERS

FPS = 30  # n_frames are at 30 frames per second

# Fields that describe whoever captured the response, not the post or the profile.
# They are removed from every dict before anything is stored.
VIEWER_FIELDS: frozenset[str] = frozenset(
    {
        "user_liked",
        "user_disliked",
        "is_owner",
        "is_following",
        "follows_you",
        "is_blocked",
        "followed_by",
        "can_message",
        "can_read",
        "can_write",
        "can_delete",
    }
)

# Keys under a post that hold further {post, profile} wrappers; they are ingested as
# wrappers of their own and cut from the parent's stored JSON.
NESTED_LIST_KEYS: tuple[str, ...] = ("remix_posts", "ancestors")


class BadRecord(ValueError):
    """A record of the right shape but unusable content; the message is the reason."""


class Shape(enum.Enum):
    FEED_PAGE = "feed page"  # {items: [{post, profile}], cursor}
    PROFILE_LIST = "profile listing"  # {items: [profile], cursor}
    POST_TREE = "post tree"  # {post, profile, children: {items, cursor}}
    WRAPPER = "post wrapper"  # {post, profile}
    MANIFEST = "archive manifest"  # {items: [{_raw: {post, profile}, ...}]}


def detect_shape(doc: Any) -> Shape:
    """The shape of one parsed JSON document; raises BadRecord when it has none we know."""
    if not isinstance(doc, dict):
        raise BadRecord(f"expected a JSON object at the top, got {_type_name(doc)}")
    if "post" in doc:
        if not isinstance(doc["post"], dict):
            raise BadRecord(f"'post' is {_type_name(doc['post'])}, expected an object")
        return Shape.POST_TREE if "children" in doc else Shape.WRAPPER
    if "items" in doc:
        items = doc["items"]
        if not isinstance(items, list):
            raise BadRecord(f"'items' is {_type_name(items)}, expected a list")
        first = next((i for i in items if isinstance(i, dict)), None)
        if first is None:
            return Shape.FEED_PAGE  # empty page (or only junk, quarantined item by item)
        if "_raw" in first:
            return Shape.MANIFEST
        if "post" in first:
            return Shape.FEED_PAGE
        if "user_id" in first:
            return Shape.PROFILE_LIST
        raise BadRecord("items are neither {post, profile} wrappers, profiles nor _raw records")
    raise BadRecord("no 'post' or 'items' key: not a Sora feed document")


def top_records(doc: dict[str, Any], shape: Shape) -> Iterator[Any]:
    """The top-level records of a document: wrappers, or bare profiles for listings."""
    for _, record in located_records(doc, shape):
        yield record


Drop = Callable[[dict[str, Any]], bool]  # says whether a post's wrapper must go


def keep_all(post: dict[str, Any]) -> bool:
    """The `Drop` that cuts nothing."""
    return False


def located_records(
    doc: dict[str, Any], shape: Shape, drop: Drop = keep_all
) -> Iterator[tuple[str | None, Any]]:
    """`top_records` with where each record sits in `doc` once `without_posts(doc, drop)`
    has cut the wrappers `drop` names: a JSON path (`$.items[3]`, DuckDB's syntax), or
    None for a record that is cut."""
    if shape in (Shape.WRAPPER, Shape.POST_TREE):
        yield (None if wrapper_goes(doc, drop) else "$"), doc
        return
    items = doc["items"]
    manifest = shape is Shape.MANIFEST
    for path, item in _located_items(items, "$.items", drop):
        if manifest:
            yield (
                (None if path is None else f"{path}._raw"),
                (item.get("_raw") if isinstance(item, dict) else item),
            )
        else:
            yield path, item


def _located_items(
    items: list[Any], where: str | None, drop: Drop
) -> Iterator[tuple[str | None, Any]]:
    """Each item of a list with its path once the items `drop` names are cut from it."""
    kept = 0
    for item in items:
        if where is None or wrapper_goes(item, drop):
            yield None, item
        else:
            yield f"{where}[{kept}]", item
            kept += 1


def flatten(wrapper: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The wrapper and every wrapper nested in it (parent_post, remix_posts.items,
    ancestors.items, children.items), depth first. Nested ones are cut from their
    parent, which keeps the ids (parent_post_id) that link them."""
    for _, current in flatten_located(wrapper, "$"):
        yield current


def flatten_located(
    wrapper: dict[str, Any], path: str | None, drop: Drop = keep_all
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """`flatten` with each wrapper's JSON path below `path` (where `wrapper` sits) once
    `without_posts(..., drop)` has cut what `drop` names; None for what is cut, and for
    everything under a cut wrapper or under `path` None."""
    stack: list[tuple[str | None, dict[str, Any]]] = [(path, wrapper)]
    while stack:
        where, current = stack.pop()
        post = current.get("post")
        if isinstance(post, dict):
            parent = post.pop("parent_post", None)
            if isinstance(parent, dict):
                gone = where is None or wrapper_goes(parent, drop)
                stack.append((None if gone else f"{where}.post.parent_post", parent))
            for key in NESTED_LIST_KEYS:
                nested = post.pop(key, None)
                if isinstance(nested, dict):
                    stack.extend(_wrappers_in(nested, _under(where, f"post.{key}"), drop))
        children = current.pop("children", None)
        if isinstance(children, dict):
            stack.extend(_wrappers_in(children, _under(where, "children"), drop))
        current.pop("cursor", None)
        yield where, current


def _under(where: str | None, key: str) -> str | None:
    return None if where is None else f"{where}.{key}"


def _wrappers_in(
    listing: dict[str, Any], where: str | None, drop: Drop = keep_all
) -> list[tuple[str | None, dict[str, Any]]]:
    """The wrappers of a nested listing with their paths, last first (for a stack)."""
    items = listing.get("items")
    if not isinstance(items, list):
        return []
    at = None if where is None else f"{where}.items"
    located = [(p, i) for p, i in _located_items(items, at, drop) if isinstance(i, dict)]
    located.reverse()
    return located


# Subtrees that hold media descriptions only; walking them is most of the cost.
_NO_VIEWER_FIELDS: frozenset[str] = frozenset({"attachments", "text_facets"})


def strip_viewer_fields(value: Any) -> None:
    """Remove viewer-relative fields from every dict in `value`, in place.

    Iterative, with exact type checks: this walk visits every dict of every record."""
    viewer = VIEWER_FIELDS
    skip = _NO_VIEWER_FIELDS
    stack = [value]
    pop, push = stack.pop, stack.append
    while stack:
        current = pop()
        if type(current) is dict:
            if not viewer.isdisjoint(current):  # a C loop over the keys
                for key in viewer.intersection(current):
                    del current[key]
            for key, child in current.items():
                kind = type(child)
                if (kind is dict or kind is list) and key not in skip:
                    push(child)
        elif type(current) is list:
            for child in current:
                kind = type(child)
                if kind is dict or kind is list:
                    push(child)


def unix_to_utc(value: Any, field: str = "time") -> datetime | None:
    """Unix seconds (float or int) to a naive UTC datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"{field} is {_type_name(value)}, expected unix seconds")
    try:
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadRecord(f"{field} {value!r} is out of range") from exc


def parse_capture_time(value: Any) -> datetime | None:
    """A document's `captured_at`: unix seconds or an ISO 8601 string."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadRecord(f"captured_at {value!r} is not an ISO 8601 time") from exc
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed
    return unix_to_utc(value, "captured_at")


_SE_PARAM = re.compile(r"[?&]se=([^&#]*)")


def media_expiry(url: Any) -> datetime | None:
    """When a signed media URL stops working: its `se=` query value, as naive UTC."""
    if not isinstance(url, str):
        return None
    match = _SE_PARAM.search(url)
    return _expiry_value(match.group(1)) if match else None


@functools.lru_cache(maxsize=4096)
def _expiry_value(value: str) -> datetime | None:
    # Many URLs of one capture share an expiry: cached, this is a dict lookup.
    try:
        parsed = datetime.fromisoformat(unquote(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def is_comment(post: dict[str, Any]) -> bool:
    """Replies are posts too, but not videos: no `s_` id prefix, source project_y."""
    post_id = post.get("id")
    return not (isinstance(post_id, str) and post_id.startswith("s_")) or (
        post.get("source") == "project_y"
    )


def is_public(post: dict[str, Any]) -> bool:
    """Only posts posted to public with share setting `public` may appear anywhere."""
    if post.get("posted_to_public") is not True:
        return False
    permissions = post.get("permissions")
    if not isinstance(permissions, dict):
        return False
    return permissions.get("share_setting") == "public"


def is_visible(post: dict[str, Any]) -> bool:
    """A post that may be kept anywhere: public and not deleted."""
    return is_public(post) and post.get("tombstoned_at") is None


def _is_wrapper(value: Any) -> bool:
    return type(value) is dict and type(value.get("post")) is dict


def wrapper_goes(value: Any, drop: Drop) -> bool:
    """Whether `without_posts(..., drop)` cuts `value` where it sits: a wrapper whose
    post `drop` names, or a manifest item whose `_raw` is one."""
    if type(value) is not dict:
        return False
    if _is_wrapper(value) and drop(value["post"]):
        return True
    inner = value.get("_raw")
    return type(inner) is dict and _is_wrapper(inner) and bool(drop(inner["post"]))


def without_posts(doc: Any, drop: Drop) -> tuple[Any, int]:
    """`doc` without every {post, profile} wrapper whose post `drop` says must go, at any
    depth (feed items, parent_post, remix_posts, ancestors, children, a manifest item's
    `_raw`: the whole manifest item goes, as its other fields describe the same post).
    In place; returns (the document, or None when it is itself such a wrapper, and how
    many wrappers went)."""
    if _is_wrapper(doc) and drop(doc["post"]):
        return None, 1
    return doc, _cut_where(doc, lambda value: wrapper_goes(value, drop))


def _cut_where(doc: Any, goes: Callable[[Any], bool]) -> int:
    """Remove, in place and at any depth below `doc`, every value `goes` names (a dict's
    entry or a list's item); returns how many went. What goes is not walked."""
    removed = 0
    stack = [doc]
    while stack:
        current = stack.pop()
        if type(current) is dict:
            for key in [k for k, v in current.items() if goes(v)]:
                del current[key]
                removed += 1
            stack.extend(v for v in current.values() if type(v) in (dict, list))
        elif type(current) is list:
            kept = [v for v in current if not goes(v)]
            if len(kept) != len(current):
                removed += len(current) - len(kept)
                current[:] = kept
            stack.extend(v for v in current if type(v) in (dict, list))
    return removed


# A creator's id where a document names one: a profile's `user_id`, a post's `shared_by`.
# Found in the compact JSON, so a document that names no erased creator is not walked.
CREATOR_ID = re.compile(rb'"(?:user_id|shared_by)":"([^"\\]{1,200})"')


def names_creators(line: bytes, creators: frozenset[str] | set[str]) -> bool:
    """Whether compact JSON `line` names one of `creators` (as a profile or an author)."""
    return any(m.decode() in creators for m in CREATOR_ID.findall(line))


def without_creators(doc: Any, creators: frozenset[str] | set[str]) -> tuple[Any, int]:
    """`doc` without every copy of the erased `creators` (docs/creators.md): the wrappers
    of their posts and comments (with what is nested in them, as `without_posts` cuts),
    and every other object whose `user_id` is theirs: a profile in a listing, a cameo in
    someone else's video, a profile at the top. In place; returns (the document, or None
    when nothing of it is left, and how many objects went)."""
    if not creators:
        return doc, 0

    def authored(post: dict[str, Any]) -> bool:
        return post.get("shared_by") in creators

    def goes(value: Any) -> bool:
        if type(value) is not dict:
            return False
        if value.get("user_id") in creators or wrapper_goes(value, authored):
            return True
        # A wrapper (or a manifest item's) whose post names no author but whose
        # profile is the erased creator's goes whole, not just its profile.
        inner = value.get("_raw")
        wrapper = inner if type(inner) is dict and _is_wrapper(inner) else value
        profile = wrapper.get("profile") if _is_wrapper(wrapper) else None
        return type(profile) is dict and profile.get("user_id") in creators

    if goes(doc):
        return None, 1
    return doc, _cut_where(doc, goes)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadRecord(f"{where}.{key} is {_type_name(value)}, expected a string")


def _opt_int(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(f"{where}.{key} is {_type_name(value)}, expected an integer")
    if not -(2**63) <= value < 2**63:
        raise BadRecord(f"{where}.{key} {value} is out of range")
    return value


def _opt_float(obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"{where}.{key} is {_type_name(value)}, expected a number")
    return float(value)


def _opt_bool(obj: dict[str, Any], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise BadRecord(f"{where}.{key} is {_type_name(value)}, expected true or false")


def _required_id(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"{where}.{key} is missing or not a string")
    if len(value) > 200:
        raise BadRecord(f"{where}.{key} is longer than 200 characters")
    return value


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~10 µs a record
class PostFacts:
    """What the ingest stores about one post sighting (one capture)."""

    id: str
    creator_id: str
    comment: bool
    public: bool
    tombstoned_at: datetime | None
    text: str | None
    posted_at: datetime | None
    updated_at: datetime | None
    width: int | None
    height: int | None
    duration_s: float | None
    n_frames: int | None
    counters: tuple[int | None, ...]  # in POST_COUNTERS order
    parent_post_id: str | None
    root_post_id: str | None
    preview_image_url: str | None
    permalink: str | None
    emoji: str | None
    thumbnail_url: str | None
    video_url: str | None
    media_expires_at: datetime | None
    generation_id: str | None
    cameo_ids: tuple[str, ...]


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~10 µs a record
class ProfileFacts:
    """What the ingest stores about one profile sighting."""

    id: str
    username: str
    display_name: str | None
    bio: str | None
    verified: bool | None
    is_public_figure: bool | None
    can_cameo: bool | None
    is_default_profile_picture: bool | None
    profile_picture_url: str | None
    profile_picture_expires_at: datetime | None
    permalink: str | None
    counters: tuple[int | None, ...]  # in CREATOR_COUNTERS order
    created_at: datetime | None
    updated_at: datetime | None
    banned_at: datetime | None


_INT_MIN, _INT_MAX = -(2**63), 2**63
_PROFILE_TEXT = ("display_name", "description", "profile_picture_url", "permalink")
_PROFILE_FLAGS = ("verified", "is_public_figure", "can_cameo", "is_default_profile_picture")
_POST_TEXT = ("text", "parent_post_id", "root_post_id", "preview_image_url", "permalink", "emoji")


def _ints(obj: dict[str, Any], names: tuple[str, ...], where: str) -> tuple[int | None, ...]:
    """Optional integers, checked in one pass (the hot path of every record)."""
    values = tuple(map(obj.get, names))
    for name, value in zip(names, values, strict=True):
        if value is not None and (type(value) is not int or not _INT_MIN <= value < _INT_MAX):
            _opt_int(obj, name, where)  # raises with the precise reason
    return values


def _strs(obj: dict[str, Any], names: tuple[str, ...], where: str) -> tuple[str | None, ...]:
    values = tuple(map(obj.get, names))
    for name, value in zip(names, values, strict=True):
        if value is not None and type(value) is not str:
            raise BadRecord(f"{where}.{name} is {_type_name(value)}, expected a string")
    return values


def _bools(obj: dict[str, Any], names: tuple[str, ...], where: str) -> tuple[bool | None, ...]:
    values = tuple(map(obj.get, names))
    for name, value in zip(names, values, strict=True):
        if value is not None and type(value) is not bool:
            raise BadRecord(f"{where}.{name} is {_type_name(value)}, expected true or false")
    return values


def extract_profile(profile: Any, where: str = "profile") -> ProfileFacts:
    if not isinstance(profile, dict):
        raise BadRecord(f"{where} is {_type_name(profile)}, expected an object")
    user_id = _required_id(profile, "user_id", where)
    username = _required_id(profile, "username", where)
    display_name, bio, picture, permalink = _strs(profile, _PROFILE_TEXT, where)
    verified, public_figure, can_cameo, default_picture = _bools(profile, _PROFILE_FLAGS, where)
    return ProfileFacts(
        id=user_id,
        username=username,
        display_name=display_name,
        bio=bio,
        verified=verified,
        is_public_figure=public_figure,
        can_cameo=can_cameo,
        is_default_profile_picture=default_picture,
        profile_picture_url=picture,
        profile_picture_expires_at=media_expiry(picture),
        permalink=permalink,
        counters=_ints(profile, CREATOR_COUNTERS, where),
        created_at=unix_to_utc(profile.get("created_at"), f"{where}.created_at"),
        updated_at=unix_to_utc(profile.get("updated_at"), f"{where}.updated_at"),
        banned_at=unix_to_utc(profile.get("banned_at"), f"{where}.banned_at"),
    )


def _encoding_path(encodings: dict[str, Any], name: str) -> str | None:
    entry = encodings.get(name)
    if isinstance(entry, dict):
        path = entry.get("path")
        if isinstance(path, str):
            return path
    return None


def extract_post(post: Any, where: str = "post") -> PostFacts:
    if not isinstance(post, dict):
        raise BadRecord(f"{where} is {_type_name(post)}, expected an object")
    post_id = _required_id(post, "id", where)
    creator_id = _required_id(post, "shared_by", where)
    text, parent_id, root_id, preview, permalink, emoji = _strs(post, _POST_TEXT, where)
    for key, expected in (("permissions", dict), ("cameo_profiles", list), ("attachments", list)):
        value = post.get(key)
        if value is not None and not isinstance(value, expected):
            raise BadRecord(f"{where}.{key} is {_type_name(value)}, expected a {expected.__name__}")
    _opt_bool(post, "posted_to_public", where)
    attachments = post.get("attachments") or []
    attachment = attachments[0] if attachments else {}
    if not isinstance(attachment, dict):
        raise BadRecord(f"{where}.attachments[0] is {_type_name(attachment)}, expected an object")
    awhere = f"{where}.attachments[0]"
    width, height, n_frames = _ints(attachment, ("width", "height", "n_frames"), awhere)
    duration_s = _opt_float(attachment, "duration_s", awhere)
    if duration_s is None and n_frames is not None:
        duration_s = n_frames / FPS
    encodings = attachment.get("encodings")
    if encodings is not None and not isinstance(encodings, dict):
        raise BadRecord(f"{awhere}.encodings is {_type_name(encodings)}, expected an object")
    encodings = encodings or {}
    thumbnail = _encoding_path(encodings, "thumbnail")
    video = (
        _encoding_path(encodings, "md")
        or _encoding_path(encodings, "source")
        or _opt_str(attachment, "url", awhere)
    )
    expiries = [e for e in (media_expiry(thumbnail), media_expiry(video)) if e is not None]
    cameos: list[str] = []
    for cameo in post.get("cameo_profiles") or ():
        if isinstance(cameo, dict) and isinstance(cameo.get("user_id"), str):
            cameos.append(cameo["user_id"])
    return PostFacts(
        id=post_id,
        creator_id=creator_id,
        comment=is_comment(post),
        public=is_public(post),
        tombstoned_at=unix_to_utc(post.get("tombstoned_at"), f"{where}.tombstoned_at"),
        text=text,
        posted_at=unix_to_utc(post.get("posted_at"), f"{where}.posted_at"),
        updated_at=unix_to_utc(post.get("updated_at"), f"{where}.updated_at"),
        width=width,
        height=height,
        duration_s=duration_s,
        n_frames=n_frames,
        counters=_ints(post, POST_COUNTERS, where),
        parent_post_id=parent_id,
        root_post_id=root_id,
        preview_image_url=preview,
        permalink=permalink,
        emoji=emoji,
        thumbnail_url=thumbnail,
        video_url=video,
        media_expires_at=min(expiries) if expiries else None,
        generation_id=_opt_str(attachment, "generation_id", awhere),
        cameo_ids=tuple(dict.fromkeys(cameos)),
    )
