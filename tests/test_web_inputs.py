"""What requests send, turned into values: one set of upload messages for the page, /quick and the API."""
import base64
import io

import pytest
from PIL import Image

from styletransfer.images import ImageError
from styletransfer.limits import Limits
from styletransfer.settings import SettingError
from styletransfer.web import inputs

LIMITS = Limits(max_upload_bytes=2**20)


def png(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_a_data_url_becomes_an_image():
    assert inputs.decode_data_url(url(png()), "p.png", "photo", LIMITS).size == (64, 48)
    assert inputs.image_size_of(url(png((300, 200)))) == (300, 200)
    assert inputs.image_size_of("not a data url") is None and inputs.image_size_of(None) is None


@pytest.mark.parametrize("contents,filename,message", [
    (None, None, "add a photo first"),
    ("", "p.png", "add a photo first"),
    (url(b"hello" * 10), "notes.png", "notes.png: "),
    (url(b"x" * (2**20 + 1)), "big.png", "big.png: over the upload limit of 1 MB (1.0 MB); save it smaller"),
    (url(png()), ["not", "a", "name"], "photo: 64×48"),  # a forged filename: the default name is used
])
def test_bad_uploads_are_one_line(contents, filename, message):
    if message.startswith("photo: 64"):
        img = inputs.decode_data_url(contents, filename, "photo", LIMITS)
        assert inputs.upload_message(img, "photo") == "photo: 64×48 px"
        return
    with pytest.raises(ImageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        inputs.decode_data_url(contents, filename, "photo", LIMITS)


def test_the_api_s_files_are_read_only_up_to_the_limit_and_say_so_the_same_way():
    class Part(io.BytesIO):
        def __init__(self, data, filename):
            super().__init__(data)
            self.filename = filename

    def decode_files(files, field, limits, single=False):
        return inputs.decode_together(inputs.read_files(files, field, limits, single), limits, known_size=False)

    assert decode_files([Part(png(), "a.png")], "style", LIMITS)[0].size == (64, 48)
    with pytest.raises(ImageError, match=r"^big.png: over the upload limit of 1 MB; save it smaller"):
        decode_files([Part(b"x" * (3 * 2**20), "big.png")], "content", LIMITS)
    with pytest.raises(ImageError, match="add the content image"):
        decode_files([], "content", LIMITS)
    with pytest.raises(ImageError, match="send one content image, not 2"):
        decode_files([Part(png(), "a.png"), Part(png(), "b.png")], "content", LIMITS, single=True)


def test_slider_positions_become_weights_and_anything_else_is_left_for_the_settings_to_name():
    assert inputs.slider_weight(2) == 100.0 and inputs.slider_weight(-1) == pytest.approx(0.1)
    assert inputs.slider_weight(1e308) == 1e300  # refused by the setting's range, not by an OverflowError
    assert inputs.slider_weight("NaN") == "NaN" and inputs.slider_weight(True) is True


def test_only_offered_backbones_pass(tmp_path):
    (tmp_path / "mine.pt").write_bytes(b"")
    assert inputs.offered_backbone("vgg19", None) == "vgg19"
    assert inputs.offered_backbone(str(tmp_path / "mine.pt"), str(tmp_path)) == str(tmp_path / "mine.pt")
    for forged in ("/etc/passwd.pt", str(tmp_path / "mine.pt"), ["vgg19"], 3):
        with pytest.raises(SettingError, match="unknown backbone"):
            inputs.offered_backbone(forged, None)


def test_a_request_s_images_are_checked_together_before_any_is_decoded(monkeypatch):
    big = io.BytesIO()
    Image.new("1", (6000, 6000)).save(big, "PNG")  # 36 megapixels in a few kB
    decoded = []
    monkeypatch.setattr("styletransfer.images.checked_rgb", lambda *a, **k: decoded.append(a) or a[0])
    parts = [(big.getvalue(), f"image {i}") for i in range(3)]
    with pytest.raises(ImageError, match="108 megapixels together, over this server's limit of 100"):
        inputs.decode_together(parts, Limits())
    assert decoded == []  # refused from the headers alone
    assert len(inputs.decode_together(parts[:2], Limits())) == 2
