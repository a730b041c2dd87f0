"""The site's images (sorastats/site/images.py) in-process: which outputs a source gets,
what templates get, the placeholder, and the encoder's output."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from sorastats.site import images


def test_a_source_gets_each_width_it_reaches_and_is_never_enlarged() -> None:
    assert [v.width for v in images.variants("ab" * 8, 720, 1280)] == [320, 640]
    assert [(v.width, v.height) for v in images.variants("ab" * 8, 360, 654)] == [(320, 581)]
    assert [(v.width, v.height) for v in images.variants("ab" * 8, 160, 90)] == [(160, 90)]
    assert images.variants("ab" * 8, 0, 10) == []
    name = images.variants("0123456789abcdef", 800, 800)[0].rel
    assert name == "media/0123456789abcdef-w1-320.webp"


def test_templates_get_the_smallest_as_src_every_width_in_srcset_and_the_largest() -> None:
    s = images.image_set({"k": "0123456789abcdef", "w": 720, "h": 1280})
    assert s == {
        "src": "/media/0123456789abcdef-w1-320.webp",
        "srcset": "/media/0123456789abcdef-w1-320.webp 320w, "
        "/media/0123456789abcdef-w1-640.webp 640w",
        "width": 320,
        "height": 569,
        "large": "/media/0123456789abcdef-w1-640.webp",
    }
    assert images.image_set(None) is None


def test_the_placeholder_shows_orientation_and_duration_and_escapes_its_label() -> None:
    portrait = str(images.placeholder_svg(352, 640, 10.4, "No thumbnail of <b>'s video"))
    landscape = str(images.placeholder_svg(640, 352, None, "x"))
    unknown = str(images.placeholder_svg(None, None, 5, "x"))
    box = re.compile(r'viewBox="0 0 (\d+) (\d+)"')
    pw, ph = map(int, box.search(portrait).groups())  # type: ignore[union-attr]
    lw, lh = map(int, box.search(landscape).groups())  # type: ignore[union-attr]
    assert ph > pw and lw > lh
    assert ">10 s</text>" in portrait and "<text" not in landscape
    assert 'aria-label="No thumbnail of &lt;b&gt;&#39;s video"' in portrait
    assert 'role="img"' in unknown and "http" not in unknown.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_encode_makes_a_webp_of_the_width_asked() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (400, 300), (10, 200, 30, 255)).save(out, "PNG")
    data = images.encode(out.getvalue(), 320)
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.size) == ("WEBP", (320, 240))


def test_the_cache_keeps_only_what_the_site_publishes(tmp_path: Path) -> None:
    folder = tmp_path / images.CACHE_FOLDER
    folder.mkdir()
    for name in ("a-w1-320.webp", "b-w1-320.webp"):
        (folder / name).write_bytes(b"x")
    assert images.prune_cache(tmp_path, ["media/a-w1-320.webp"]) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["a-w1-320.webp"]
    assert images.prune_cache(tmp_path / "none", []) == 0
