"""Shared fixtures: small images made here (tests never read ../shared)."""
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
