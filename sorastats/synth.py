"""`build.py synth`: deterministic synthetic feed pages in the real Sora format.

One capture per day over D days, written as `day-NN/latest-NNNNNN.json` feed pages
({items, cursor, captured_at}) plus `day-NN/tree-<post>.json` post trees with comments,
and (unless turned off) `day-NN/profile-<user_id>-NNN.json` pages of each creator's
`profile_feed/{user_id}`, as `fetch --refresh-creators` captures them: every live post
gets that day's counters, so every post has a snapshot per day it was live.
Every value is a pure function of (seed, post or creator index, day); between pages only
the post indexes of each creator are held (for the profile feeds), a few bytes a post.

What is in it, on purpose: counters that grow day by day, a heavy skew of posts per
creator, remixes with nested `parent_post` and `remix_posts`, comments, cameos, posts
that get tombstoned or turn non-public, posts never public, a renamed creator, a `ch_`
character profile, CJK/emoji/RTL/empty/very long captions, hostile text (HTML, script,
`javascript:` URLs, zero-width and bidi characters), and both captured field variants
(Oct: `n_frames`, no share/repost/character counts; Nov: `duration_s` and those counts).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from PIL import Image, ImageDraw

PAGE_SIZE = 16  # the real feed's `limit`
# Image files (`media/<id>.webp`, as an archive that kept them holds them): one post in
# IMAGE_EVERY gets a thumbnail, and one creator in IMAGE_EVERY with a picture of their
# own gets it. IMAGE_WIDTH reaches the site's smaller width (320) but not the larger, as
# archived thumbnails often do not; the other side follows the video's orientation.
IMAGE_EVERY = 8
IMAGE_WIDTH = 360
EPOCH = datetime(2025, 10, 1, tzinfo=UTC)
DAY = 86_400.0
_MASK = (1 << 64) - 1
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

SPECIAL_CAPTIONS: tuple[str | None, ...] = (
    "",
    None,
    "女学生练习Y字バランス 1周 — 桜の下で踊る猫",
    "고양이가 피아노를 친다 🎹🐈",
    "🔥🔥🔥 dragon surfing a tsunami 🐉🌊 #sora",
    "قطة تعزف على البيانو في المطر",
    "חתול מנגן בפסנתר בגשם",
    "<script>alert('xss')</script> cat video",
    '<img src=x onerror="alert(1)"> "quoted" & <b>bold</b>',
    "javascript:alert(document.cookie)",
    "[click me](javascript:alert(1)) </textarea></title><!--",
    "zero\u200bwidth\u200djoiner\ufeffbom and \u202eRTL override\u202c text",
    "line one\nline two\r\nline three\ttabbed",
    "{{ 7*7 }} {% raw %} ${jndi:ldap://x} ' OR 1=1 --",
    "a very long prompt: " + "cinematic drone shot of a neon city in the rain, " * 120,
)
SPECIAL_NAMES: tuple[str | None, ...] = (
    None,
    "桜 Sakura 🌸",
    "محمد الفنان",
    "<script>alert(1)</script>",
    "Zero\u200bWidth",
    "🎬🎬🎬",
)
WORDS = [
    "cat",
    "dog",
    "dragon",
    "astronaut",
    "robot",
    "city",
    "ocean",
    "forest",
    "neon",
    "rain",
    "snow",
    "desert",
    "samurai",
    "skateboard",
    "piano",
    "jazz",
    "cinematic",
    "drone",
    "shot",
    "slow",
    "motion",
    "sunset",
    "galaxy",
    "vintage",
    "anime",
    "claymation",
    "underwater",
    "tiny",
    "giant",
    "cozy",
    "epic",
    "haunted",
    "golden",
    "retro",
    "futuristic",
]


def _h(seed: int, index: int, salt: int) -> int:
    """splitmix64 of (seed, index, salt): the only source of randomness."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _unit(seed: int, index: int, salt: int) -> float:
    return (_h(seed, index, salt) >> 11) / float(1 << 53)


def _token(seed: int, index: int, salt: int, length: int) -> str:
    value = _h(seed, index, salt)
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value % 62])
        value = value // 62 or _h(seed, value, salt + 1)
    return "".join(chars)


@dataclass(frozen=True)
class SynthSpec:
    posts: int
    creators: int
    days: int
    seed: int

    def __post_init__(self) -> None:
        if self.posts < 1 or self.creators < 1 or self.days < 1:
            raise ValueError("--posts, --creators and --days must each be at least 1")
        if self.creators > self.posts:
            raise ValueError("--creators must not exceed --posts")

    # --- posts -------------------------------------------------------------------
    def day_of(self, i: int) -> int:
        return i * self.days // self.posts

    def first_of_day(self, day: int) -> int:
        return -(-day * self.posts // self.days)  # ceil

    def post_id(self, i: int) -> str:
        return f"s_{_h(self.seed, i, 1):016x}{_h(self.seed, i, 2):016x}"

    def creator_of(self, i: int) -> int:
        if i < self.creators:
            return i  # every creator has at least one post
        return int(self.creators * _unit(self.seed, i, 3) ** 3)  # heavy skew to low indexes

    def parent_of(self, i: int) -> int | None:
        if i < 2 or _h(self.seed, i, 4) % 8:
            return None
        return max(0, i - 1 - _h(self.seed, i, 5) % 40)

    def root_of(self, i: int) -> int | None:
        parent = self.parent_of(i)
        if parent is None:
            return None
        while (grand := self.parent_of(parent)) is not None:
            parent = grand
        return parent

    def posted_at(self, i: int) -> float:
        day = self.day_of(i)
        first, last = self.first_of_day(day), self.first_of_day(day + 1)
        span = (DAY - 7200) / max(last - first, 1)
        return EPOCH.timestamp() + day * DAY + 60 + (i - first) * span + _unit(self.seed, i, 6)

    def capture_at(self, day: int) -> float:
        return EPOCH.timestamp() + day * DAY + DAY - 600 + 0.123456

    def tombstone_day(self, i: int) -> int | None:
        return self.day_of(i) + 1 if _h(self.seed, i, 7) % 101 == 0 else None

    def visibility(self, i: int, day: int) -> tuple[bool, str]:
        """(posted_to_public, share_setting) as seen on `day`."""
        kind = _h(self.seed, i, 8) % 180
        if kind == 0:
            return False, "private"  # never public
        if kind == 1:
            return True, "unlisted"
        if kind == 2 and day > self.day_of(i):
            return False, "private"  # public on its first day, then made private
        return True, "public"

    def recaptured_on(self, i: int, day: int) -> bool:
        posted = self.day_of(i)
        if day == posted:
            return True
        if day == posted + 1:
            return (
                _h(self.seed, i, 9) % 2 == 0
                or self.tombstone_day(i) == day
                or (_h(self.seed, i, 8) % 180 == 2)
            )
        return day > posted and _h(self.seed, i, 10) % 20 == 0  # the "top" posts

    def live_on(self, i: int, day: int) -> bool:
        """Whether post `i` shows on its creator's profile feed on `day`: posted by
        then, not deleted, public."""
        tomb = self.tombstone_day(i)
        return (
            self.day_of(i) <= day
            and (tomb is None or day < tomb)
            and self.visibility(i, day) == (True, "public")
        )

    def counters(self, i: int, day: int) -> dict[str, int]:
        age = day - self.day_of(i)
        growth = 1.0 - 0.5 ** (age + 1)
        pop = 1.0 / max(_unit(self.seed, i, 11), 1e-6) ** 0.9  # Pareto-like
        views = int(min(pop * 40, 5_000_000) * growth)
        return {
            "like_count": views // 100 + age,
            "dislike_count": views // 5000,
            "view_count": views,
            "unique_view_count": views * 2 // 3,
            "remix_count": views // 800,
            "reply_count": views // 2000,
            "recursive_reply_count": views // 1500,
            "share_count": views // 3000,
            "repost_count": views // 4000,
        }

    def caption(self, i: int) -> str | None:
        if i % 10 == 3:  # every tenth post, cycling through the special cases
            return SPECIAL_CAPTIONS[(i // 10) % len(SPECIAL_CAPTIONS)]
        pick = _h(self.seed, i, 12)
        n = 3 + pick % 9
        return " ".join(WORDS[_h(self.seed, i, 100 + k) % len(WORDS)] for k in range(n))

    # --- creators ----------------------------------------------------------------
    def creator_id(self, c: int) -> str:
        if c == self.creators - 1 and self.creators > 2:
            return f"ch_{_h(self.seed, c, 20):016x}{_h(self.seed, c, 21):016x}"
        return "user-" + _token(self.seed, c, 22, 24)

    def username(self, c: int, day: int) -> str:
        base = f"creator_{_h(self.seed, c, 23) % 16**6:06x}"
        if c == 1 % self.creators and day >= self.days // 2 and self.days > 1:
            return base.replace("creator_", "renamed_")  # the renamed creator
        return base

    def creator_counters(self, c: int, day: int) -> dict[str, int]:
        size = self.posts / self.creators / max(c + 1, 1) ** 0.5
        grow = 1 + day * 0.05
        return {
            "follower_count": int(size * 37 * grow),
            "following_count": int(_h(self.seed, c, 24) % 900),
            "post_count": int(size * grow) + 1,
            "reply_count": int(_h(self.seed, c, 25) % 60 + day),
            "likes_received_count": int(size * 210 * grow),
            "remix_count": int(size * 9 * grow),
            "cameo_count": int(size * 2 * grow) if c % 7 == 0 else 0,
            "character_count": c % 4,
        }


def _media_url(post_id: str, kind: str, expires: datetime) -> str:
    task = "task_" + post_id[2:28]
    se = expires.strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
    return (
        f"https://videos.openai.com/az/vg-assets/assets%2F{task}%2Fvideos%2F00000_wm%2F{kind}"
        f"?se={se}&sp=r&sv=2024-08-04&sr=b&sig=REDACTED&ac=oaivgprodscus"
    )


class Synth:
    """Builds wrappers for a SynthSpec; see the module docstring."""

    def __init__(self, spec: SynthSpec) -> None:
        self.spec = spec

    def late_variant(self, day: int) -> bool:
        return day >= (self.spec.days + 1) // 2

    def profile(self, c: int, day: int) -> dict[str, Any]:
        s = self.spec
        username = self.username(c, day)
        late = self.late_variant(day)
        pick = _h(s.seed, c, 26)
        profile: dict[str, Any] = {
            "user_id": s.creator_id(c),
            "username": username,
            "profile_picture_url": None
            if pick % 3 == 0
            else "https://cdn.openai.com/sora/images/profile_placeholder_v4.png",
            "is_default_profile_picture": pick % 3 != 0,
            "cover_photo_url": None,
            "verified": c < 3,
            **s.creator_counters(c, day),
            "is_following": False,
            "is_blocked": False,
            "followed_by": [],
            "plan_type": None,
            "permalink": f"https://sora.chatgpt.com/profile/{username}",
            "can_cameo": c % 7 == 0,
            "created_at": EPOCH.timestamp() - 86400 * (1 + c % 30) + 0.5,
            "updated_at": s.capture_at(day) - 30.0,
            "banned_at": None,
            "can_message": False,
            "sora_who_can_message_me": "followees_only",
            "is_public_figure": c == 0,
            "public_figure_name": None,
            "display_name": SPECIAL_NAMES[pick % len(SPECIAL_NAMES)]
            if pick % 5 == 0
            else f"Creator {pick % 65536:04X}",
            "location": None,
            "description": SPECIAL_CAPTIONS[pick % len(SPECIAL_CAPTIONS)]
            if pick % 4 == 0
            else f"Bio of creator {c}.",
            "birthday": None,
            "website": None,
            "follows_you": False,
        }
        if pick % 3 == 0:
            expires = datetime.fromtimestamp(s.capture_at(day), UTC) + timedelta(days=3)
            profile["profile_picture_url"] = _media_url(s.post_id(c), "profile.jpeg", expires)
        if late:
            profile["chatgpt_who_can_message_me"] = "connections_only"
            profile["owner_profile"] = None
        else:
            del profile["character_count"]
        return profile

    def username(self, c: int, day: int) -> str:
        return self.spec.username(c, day)

    def wrapper(self, i: int, day: int, *, nest: bool = True) -> dict[str, Any]:
        s = self.spec
        post_id = s.post_id(i)
        c = s.creator_of(i)
        late = self.late_variant(day)
        capture = s.capture_at(day)
        expires = datetime.fromtimestamp(capture, UTC) + timedelta(days=6)
        public, share = s.visibility(i, day)
        counters = s.counters(i, day)
        if not late:
            del counters["share_count"], counters["repost_count"]
        parent = s.parent_of(i)
        root = s.root_of(i)
        tomb = s.tombstone_day(i)
        attachment: dict[str, Any] = {
            "id": f"{post_id}-attachment-0",
            "tags": ["sora"],
            "kind": "sora",
            "generation_id": "gen_" + post_id[2:28],
            "generation_type": "video_gen",
            "url": _media_url(post_id, "src.mp4", expires),
            "downloadable_url": _media_url(post_id, "src.mp4", expires),
            "width": 352 if i % 9 else 640,
            "height": 640 if i % 9 else 352,
            "prompt": None,
            "task_id": "task_" + post_id[2:28],
            "output_blocked": False,
            "title": None,
            "source": None,
            "encodings": {
                "source": {"path": _media_url(post_id, "src.mp4", expires)},
                "thumbnail": {"path": _media_url(post_id, "thumbnail.webp", expires)},
                "unfurl": None,
                "md": {"path": _media_url(post_id, "md.mp4", expires)},
                "gif": {"path": _media_url(post_id, "preview.gif", expires)},
            },
        }
        frames = 300 if i % 5 else 450
        if late:
            attachment["duration_s"] = frames / 30
        else:
            attachment["n_frames"] = frames
        cameo = None
        if _h(s.seed, i, 13) % 6 == 0 and s.creators > 1:
            star = _h(s.seed, i, 14) % min(s.creators, 20)
            cameo = [self.profile(star, day)]
        post: dict[str, Any] = {
            "id": post_id,
            "shared_by": s.creator_id(c),
            "is_owner": False,
            "posted_to_public": public,
            "posted_at": s.posted_at(i),
            "updated_at": min(capture - 60.0, s.posted_at(i) + 3600 * (1 + day - s.day_of(i))),
            **counters,
            "user_liked": _h(s.seed, i, 15) % 3 == 0,
            "source": "sy",
            "text": s.caption(i),
            "caption": None,
            "cover_photo_url": None,
            "preview_image_url": f"https://ogimg.chatgpt.com/?postId={post_id}",
            "attachments": [attachment],
            "parent_post_id": s.post_id(parent) if parent is not None else None,
            "root_post_id": s.post_id(root) if root is not None else None,
            "parent_path": [s.post_id(parent)] if parent is not None else None,
            "tombstoned_at": capture - 3600.0 if tomb is not None and day >= tomb else None,
            "permalink": f"https://sora.chatgpt.com/p/{post_id}",
            "permissions": {
                "can_read": True,
                "can_write": False,
                "can_delete": False,
                "share_setting": share,
            },
            "text_facets": [],
            "cameo_profiles": cameo,
            "user_disliked": False,
            "remix_posts": {"items": [], "cursor": None},
            "ancestors": {"items": [], "cursor": None},
            "parent_post": None,
            "emoji": "🔥" if _h(s.seed, i, 16) % 11 == 0 else None,
            "is_featured": None,
        }
        if nest and parent is not None and s.day_of(parent) <= day:
            post["parent_post"] = self.wrapper(parent, day, nest=False)
        if nest and _h(s.seed, i, 17) % 10 == 0:
            remixes = [
                j
                for j in range(i + 1, min(i + 41, s.posts))
                if s.parent_of(j) == i and s.day_of(j) <= day
            ][:4]
            items = []
            for k, j in enumerate(remixes):
                item = self.wrapper(j, day, nest=False)
                if k == 0:  # the real feed embeds the parent again inside a remix
                    item["post"]["parent_post"] = self.wrapper(i, day, nest=False)
                items.append(item)
            post["remix_posts"] = {"items": items, "cursor": None}
        return {"post": post, "profile": self.profile(c, day)}

    def comment(self, i: int, k: int, day: int) -> dict[str, Any]:
        s = self.spec
        video = s.post_id(i)
        author = _h(s.seed, i * 31 + k, 18) % s.creators
        comment_id = f"{_h(s.seed, i * 31 + k, 19):016x}{_h(s.seed, i * 31 + k, 27):016x}"
        capture = s.capture_at(day)
        return {
            "post": {
                "id": comment_id,
                "shared_by": s.creator_id(author),
                "posted_to_public": True,
                "posted_at": capture - 5000.0 + k,
                "updated_at": capture - 4000.0 + k,
                "like_count": k * 3,
                "reply_count": 0,
                "recursive_reply_count": 0,
                "view_count": 0,
                "unique_view_count": 0,
                "remix_count": 0,
                "source": "project_y",
                "text": SPECIAL_CAPTIONS[k % len(SPECIAL_CAPTIONS)] or "What a shot!",
                "attachments": [],
                "parent_post_id": video,
                "root_post_id": video,
                "parent_path": [video],
                "tombstoned_at": None,
                "permissions": {"can_read": True, "share_setting": "public"},
                "cameo_profiles": None,
                "parent_post": self.wrapper(i, day, nest=False),
            },
            "profile": self.profile(author, day),
            "children": {"items": [], "cursor": None},
            "cursor": None,
        }

    def day_posts(self, day: int) -> Iterator[int]:
        """The post indexes in day `day`'s latest feed, newest first."""
        s = self.spec
        for i in range(s.first_of_day(day + 1) - 1, s.first_of_day(day) - 1, -1):
            yield i
        for i in range(s.first_of_day(day) - 1, -1, -1):
            if s.recaptured_on(i, day):
                yield i


def cursor_token(day: int, page: int) -> str:
    """Opaque like the real cursors; the test server decodes it back."""
    return base64.urlsafe_b64encode(f"synth:{day}:{page}".encode()).decode()


def profile_cursor_token(day: int, creator: int, page: int) -> str:
    return base64.urlsafe_b64encode(f"synth-profile:{day}:{creator}:{page}".encode()).decode()


def page_name(page: int) -> str:
    return f"latest-{page:06d}.json"


def profile_page_name(user_id: str, page: int) -> str:
    return f"profile-{user_id}-{page:03d}.json"


def has_image(spec: SynthSpec, i: int) -> bool:
    return _h(spec.seed, i, 37) % IMAGE_EVERY == 0


def creator_has_image(spec: SynthSpec, c: int) -> bool:
    """A picture of their own (the profile's `is_default_profile_picture` is false)."""
    return _h(spec.seed, c, 26) % 3 == 0 and _h(spec.seed, c, 38) % IMAGE_EVERY == 0


def image(seed: int, index: int, width: int, height: int) -> bytes:
    """A small deterministic picture (a WebP of about 2-6 KB): a gradient and a few
    shapes in colours drawn from (seed, index)."""
    colours = [
        tuple((_h(seed, index, 40 + k) >> shift) & 0xFF for shift in (0, 8, 16)) for k in range(4)
    ]
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    img = Image.blend(img, Image.new("RGB", (width, height), colours[0]), 0.6)
    draw = ImageDraw.Draw(img)
    for k in range(1, 4):
        h = _h(seed, index, 50 + k)
        x, y, r = h % width, (h >> 16) % height, 10 + (h >> 32) % max(11, width // 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colours[k])
    out = io.BytesIO()
    img.save(out, "WEBP", quality=60, method=4)
    return out.getvalue()


def _write_images(spec: SynthSpec, out: Path) -> int:
    """`media/<post id>.webp` and `media/<user id>.webp`; returns how many."""
    folder = out / "media"
    folder.mkdir(exist_ok=True)
    written = 0
    for i in range(spec.posts):
        if has_image(spec, i):
            portrait = i % 9 != 0  # as the post's own width and height (Synth.wrapper)
            size = (IMAGE_WIDTH, IMAGE_WIDTH * 640 // 352)
            w, h = size if portrait else size[::-1]
            _write_atomic(folder / f"{spec.post_id(i)}.webp", image(spec.seed, i, w, h))
            written += 1
    for c in range(spec.creators):
        if creator_has_image(spec, c):
            data = image(spec.seed, spec.posts + c, 160, 160)
            _write_atomic(folder / f"{spec.creator_id(c)}.webp", data)
            written += 1
    return written


def write(
    spec: SynthSpec, out: Path, *, profile_feeds: bool = True, images: bool = True
) -> dict[str, int]:
    """Write the whole synthetic capture set under `out`; returns counts. With
    `profile_feeds`, each day also holds every creator's profile feed pages; with
    `images`, `media/` holds thumbnails and profile pictures named by id."""
    synth = Synth(spec)
    out.mkdir(parents=True, exist_ok=True)
    totals = {"pages": 0, "items": 0, "trees": 0, "profile_pages": 0, "profile_items": 0}
    totals["images"] = _write_images(spec, out) if images else 0
    by_creator: dict[int, list[int]] = {}  # post indexes per creator, oldest first
    for day in range(spec.days):
        folder = out / f"day-{day + 1:02d}"
        folder.mkdir(exist_ok=True)
        captured_at = spec.capture_at(day)
        items: list[dict[str, Any]] = []
        number = 0
        for i in synth.day_posts(day):
            if len(items) == PAGE_SIZE:
                number += 1
                _write_page(folder, day, number, items, captured_at, last=False)
                items = []
            items.append(synth.wrapper(i, day))
            totals["items"] += 1
            if _h(spec.seed, i, 28) % 41 == 0 and spec.day_of(i) < day:
                tree = synth.wrapper(i, day, nest=False)
                tree["children"] = {
                    "items": [synth.comment(i, k, day) for k in range(2 + i % 3)],
                    "cursor": None,
                }
                tree["cursor"] = None
                tree["captured_at"] = captured_at
                _write_atomic(folder / f"tree-{spec.post_id(i)}.json", orjson.dumps(tree))
                totals["trees"] += 1
        number += 1
        _write_page(folder, day, number, items, captured_at, last=True)
        totals["pages"] += number
        if profile_feeds:
            for i in range(spec.first_of_day(day), spec.first_of_day(day + 1)):
                by_creator.setdefault(spec.creator_of(i), []).append(i)
            _write_profile_feeds(synth, folder, day, by_creator, totals)
    return totals


def _write_profile_feeds(
    synth: Synth, folder: Path, day: int, by_creator: dict[int, list[int]], totals: dict[str, int]
) -> None:
    """`profile_feed/{user_id}` of every creator with live posts on `day`, newest first,
    in pages of PAGE_SIZE, as `fetch --refresh-creators` would capture them."""
    spec = synth.spec
    captured_at = spec.capture_at(day)
    for c in sorted(by_creator):
        live = [i for i in reversed(by_creator[c]) if spec.live_on(i, day)]
        pages = [live[k : k + PAGE_SIZE] for k in range(0, len(live), PAGE_SIZE)]
        user_id = spec.creator_id(c)
        for number, chunk in enumerate(pages, start=1):
            last = number == len(pages)
            doc = {
                "items": [synth.wrapper(i, day, nest=False) for i in chunk],
                "cursor": None if last else profile_cursor_token(day, c, number + 1),
                "captured_at": captured_at,
            }
            _write_atomic(folder / profile_page_name(user_id, number), orjson.dumps(doc))
            totals["profile_pages"] += 1
            totals["profile_items"] += len(chunk)


def _write_page(
    folder: Path,
    day: int,
    number: int,
    items: list[dict[str, Any]],
    captured_at: float,
    *,
    last: bool,
) -> None:
    doc = {
        "items": items,
        "cursor": None if last else cursor_token(day, number + 1),
        "captured_at": captured_at,
    }
    _write_atomic(folder / page_name(number), orjson.dumps(doc))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
