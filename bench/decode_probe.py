#!/usr/bin/env python3
"""Decode probe: what reading the typed fields of the feed pages costs in Python, three
ways, in one process on the same files (the bench's capture set, synthesized once):

1. `orjson.loads` alone (dicts, nothing checked);
2. `orjson.loads` + the import's typed checks and extraction (`parse.extract_post`,
   `parse.extract_profile`) of every wrapper: what the stager does per record;
3. `msgspec` decoding straight into typed structs of the same fields (a compiled
   decoder, the option the ingest issue's closing note names), if msgspec is installed
   (`.venv/bin/pip install msgspec`; it is not a dependency of SoraStats).

    python -m bench.decode_probe [--posts 100000] [--creators 10000]

Prints CPU seconds of each; compare ratios (the machine is shared).
"""

from __future__ import annotations

import argparse
import resource
import sys
from typing import Any

import orjson

from bench.ingest import add_capture_arguments, synthesize
from sorastats import parse


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def msgspec_decoder() -> Any:
    """A decoder of feed pages into structs of the fields the tables need, or None."""
    try:
        import msgspec  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    def struct(name: str, fields: dict[str, type], required: tuple[str, ...] = ()) -> Any:
        spec = [(k, v) if k in required else (k, v | None, None) for k, v in fields.items()]
        spec.sort(key=lambda item: len(item) == 3)  # required fields first
        return msgspec.defstruct(name, spec)

    attachment = struct(
        "Attachment", {"generation_id": str, "width": int, "height": int, "duration_s": float}
    )
    permissions = struct("Permissions", {"share_setting": str})
    post = struct(
        "Post",
        {
            "id": str, "shared_by": str, "posted_to_public": bool, "posted_at": float,
            "updated_at": float, "tombstoned_at": float, "text": str, "like_count": int,
            "view_count": int, "unique_view_count": int, "remix_count": int,
            "reply_count": int, "share_count": int, "repost_count": int,
            "preview_image_url": str, "permalink": str, "parent_post_id": str,
            "root_post_id": str, "attachments": list[attachment],  # type: ignore[valid-type]
            "permissions": permissions, "emoji": str,
        },
        required=("id",),
    )  # fmt: skip
    profile = struct(
        "Profile",
        {
            "user_id": str, "username": str, "display_name": str, "description": str,
            "verified": bool, "is_public_figure": bool, "can_cameo": bool,
            "profile_picture_url": str, "permalink": str, "follower_count": int,
            "following_count": int, "post_count": int, "likes_received_count": int,
            "created_at": float, "updated_at": float,
        },
        required=("user_id",),
    )  # fmt: skip
    wrapper = msgspec.defstruct("Wrapper", [("post", post), ("profile", profile | None, None)])
    page = msgspec.defstruct("Page", [("items", list[wrapper])])  # type: ignore[valid-type]
    return msgspec.json.Decoder(page)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_capture_arguments(parser, posts=100_000, creators=10_000)
    args = parser.parse_args()
    capture = synthesize(args.posts, args.creators, args.days, args.seed)
    pages = [p.read_bytes() for p in sorted(capture.glob("*/latest-*.json"))]
    print(f"{len(pages):,} feed pages, {sum(map(len, pages)) / 2**20:,.0f} MiB, in memory")

    started = cpu_seconds()
    wrappers = sum(len(orjson.loads(data)["items"]) for data in pages)
    loads = cpu_seconds() - started
    print(f"1. orjson.loads: {wrappers:,} wrappers, {loads:.2f} CPU s")

    started = cpu_seconds()
    for data in pages:
        for item in orjson.loads(data)["items"]:
            parse.extract_post(item["post"])
            parse.extract_profile(item["profile"])
    extract = cpu_seconds() - started
    print(f"2. orjson.loads + extract_post/extract_profile: {extract:.2f} CPU s")

    decoder = msgspec_decoder()
    if decoder is None:
        print("3. msgspec: not installed (.venv/bin/pip install msgspec), skipped")
        return 0
    started = cpu_seconds()
    typed = sum(len(decoder.decode(data).items) for data in pages)
    decode = cpu_seconds() - started
    assert typed == wrappers
    print(
        f"3. msgspec typed structs: {decode:.2f} CPU s "
        f"({extract / decode:.1f}x less than 2, {loads / decode:.1f}x less than 1)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
