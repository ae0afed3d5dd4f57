"""What requests send, turned into values: one set of upload messages for the page, /quick and the API."""
import io

import pytest
from PIL import Image

from styletransfer.images import ImageError
from styletransfer.jobs.uploads import DiskUploads
from styletransfer.limits import Limits
from styletransfer.settings import SettingError
from styletransfer.web import inputs

LIMITS = Limits(max_upload_bytes=2**20)


def png(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


class Part(io.BytesIO):
    """A multipart file as Werkzeug hands it over."""

    def __init__(self, data, filename):
        super().__init__(data)
        self.filename = filename


@pytest.fixture
def uploads():
    store = DiskUploads(max_stored=10)
    yield store
    store.close()


def test_an_upload_is_accepted_by_its_header_and_named_by_its_address(uploads):
    raw, name, img = inputs.accept_upload([Part(png((300, 200)), "p.png")], LIMITS)
    assert (name, img.size) == ("p.png", (300, 200))
    ref = inputs.UPLOADS_PATH + uploads.put("me", raw, name)
    assert inputs.decode_upload(uploads, "me", ref, "photo", LIMITS).size == (300, 200)
    assert inputs.image_size_of(uploads, "me", ref) == (300, 200)
    assert inputs.image_size_of(uploads, "someone else", ref) is None
    assert inputs.image_size_of(uploads, "me", "data:image/png;base64,AAAA") is None


@pytest.mark.parametrize("data,filename,message", [
    (b"hello" * 10, "notes.png", "^notes.png: not an image file"),
    (b"x" * (2**20 + 1), "big.png", r"^big.png: over the upload limit of 1 MB; save it smaller"),
    (b"", "empty.png", "^empty.png: the file is empty"),
])
def test_a_bad_upload_is_refused_in_one_line_before_it_is_kept(data, filename, message):
    with pytest.raises(ImageError, match=message) as refused:
        inputs.accept_upload([Part(data, filename)], LIMITS)
    assert isinstance(refused.value, inputs.FileTooLarge) == filename.startswith("big")


def test_too_many_pixels_are_refused_from_the_header():
    flat = io.BytesIO()
    Image.new("L", (8000, 8000)).save(flat, "PNG")  # ~80 KB of file, 64 megapixels
    with pytest.raises(ImageError, match=r"^flat.png: 8000×8000 pixels is too large"):
        inputs.accept_upload([Part(flat.getvalue(), "flat.png")], LIMITS)


@pytest.mark.parametrize("ref,message", [
    (None, "add a photo first"),
    ("", "add a photo first"),
    ("data:image/png;base64,AAAA", "the photo is no longer on the server"),
    ("/api/uploads/../../etc/passwd", "the photo is no longer on the server"),
    (["not", "an", "address"], "the photo is no longer on the server"),
])
def test_what_is_not_an_upload_of_this_session_is_one_line(uploads, ref, message):
    with pytest.raises(ImageError, match=message):
        inputs.read_upload(uploads, "me", ref, "photo")


def test_another_session_s_upload_is_no_longer_on_the_server_for_this_one(uploads):
    ref = inputs.UPLOADS_PATH + uploads.put("them", png(), "theirs.png")
    assert inputs.read_upload(uploads, "them", ref, "photo")[1] == "theirs.png"
    with pytest.raises(ImageError, match="the photo is no longer on the server"):
        inputs.read_upload(uploads, "me", ref, "photo")


def test_the_api_s_files_are_read_only_up_to_the_limit_and_say_so_the_same_way():
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
