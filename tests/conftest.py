"""Shared fixtures: small images made here (tests never read ../shared)."""
import io
import os
import sys

import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from styletransfer.examples import example_image  # noqa: E402


@pytest.fixture(scope="session")
def content_image() -> Image.Image:
    return example_image("hopper").resize((80, 96))


@pytest.fixture(scope="session")
def style_image() -> Image.Image:
    return example_image("swirls").resize((96, 77))


@pytest.fixture(scope="session")
def style_image2() -> Image.Image:
    return example_image("mosaic").resize((96, 96))


@pytest.fixture
def image_files(tmp_path, content_image, style_image):
    c, s = tmp_path / "content.jpg", tmp_path / "style.png"
    content_image.save(c, quality=92)
    style_image.save(s)
    return c, s


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory) -> dict:
    """Every kind of bad input, by file name -> path."""
    folder = tmp_path_factory.mktemp("bad")
    data = {
        "notes.png": b"this is not an image\n" * 20,
        "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        "doc.pdf": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n",
        "photo.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "empty.png": b"",
    }
    jpeg = io.BytesIO()
    Image.new("RGB", (400, 400), (200, 40, 40)).save(jpeg, "JPEG")
    data["truncated.jpg"] = jpeg.getvalue()[:500]
    bomb = io.BytesIO()
    Image.new("1", (12_000, 6_000)).save(bomb, "PNG")  # 72 megapixels in a few kB
    data["bomb.png"] = bomb.getvalue()
    big = io.BytesIO()
    Image.effect_noise((1100, 1100), 90).convert("RGB").save(big, "PNG")  # ~2.5 MB of noise
    data["huge.png"] = big.getvalue()
    for name, size in (("panorama.png", (4000, 60)), ("tiny.png", (8, 8))):
        buf = io.BytesIO()
        Image.linear_gradient("L").resize(size).convert("RGB").save(buf, "PNG")
        data[name] = buf.getvalue()
    paths = {}
    for name, content in data.items():
        (folder / name).write_bytes(content)
        paths[name] = str(folder / name)
    (folder / "folder").mkdir()
    paths["folder"] = str(folder / "folder")
    paths["missing.png"] = str(folder / "missing.png")
    return paths


@pytest.fixture(scope="session")
def animated_gif(tmp_path_factory, content_image) -> str:
    """A 3-frame animated GIF of the photo."""
    path = tmp_path_factory.mktemp("anim") / "animated.gif"
    frames = [content_image.rotate(a) for a in (0, 10, 20)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return str(path)

