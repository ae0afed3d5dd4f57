"""Decoding every common kind of input, refusing every bad one with one clear line, PNG metadata."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from styletransfer import images
from styletransfer.images import ImageError, decode_image, load_image


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w=40, h=30):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w)[None, :]
    arr[..., 1] = np.linspace(0, 255, h)[:, None]
    arr[..., 2] = 90
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF"])
def test_common_formats_decode_to_rgb(fmt):
    out = decode_image(encode(gradient(), fmt))
    assert out.mode == "RGB" and out.size == (40, 30)
    assert abs(np.asarray(out, float)[15, 20, 0] - 130) < 12


def test_cmyk_jpeg():
    out = decode_image(encode(gradient().convert("CMYK"), "JPEG"))
    assert out.mode == "RGB" and out.size == (40, 30)


def test_16_bit_png_keeps_its_range():
    arr = np.tile(np.linspace(0, 65535, 50, dtype=np.uint16), (10, 1))
    out = decode_image(encode(Image.fromarray(arr), "PNG"))
    rgb = np.asarray(out)
    assert out.mode == "RGB" and rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255


def test_alpha_is_composited_on_white():
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    img.putpixel((0, 0), (0, 0, 255, 255))
    out = np.asarray(decode_image(encode(img, "PNG")))
    assert tuple(out[0, 0]) == (0, 0, 255)
    assert tuple(out[4, 4]) == (255, 255, 255)


def test_palette_with_transparency_and_grayscale():
    pal = gradient().convert("P")
    pal.info["transparency"] = 0
    assert decode_image(encode(pal, "PNG", transparency=0)).mode == "RGB"
    gray = decode_image(encode(gradient().convert("L"), "PNG"))
    assert gray.mode == "RGB" and np.asarray(gray)[..., 0].tolist() == np.asarray(gray)[..., 2].tolist()


def test_animated_gif_gives_its_first_frame():
    red, blue = Image.new("RGB", (10, 10), (255, 0, 0)), Image.new("RGB", (10, 10), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100)
    px = np.asarray(decode_image(data))[5, 5]
    assert px[0] > 200 and px[2] < 50


def test_exif_rotation_is_honoured():
    img = gradient(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = decode_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.size == (30, 40)


@pytest.mark.parametrize("data,pattern", [
    (b"", "empty"),
    (b"hello, I am a text file\n" * 10, "not an image"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
    (b"<svg width='10' height='10'></svg>", "SVG"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
])
def test_non_images_are_refused_with_one_line(data, pattern):
    with pytest.raises(ImageError, match=pattern) as err:
        decode_image(data, name="upload")
    assert "\n" not in str(err.value) and str(err.value).startswith("upload: ")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(fmt):
    data = encode(gradient(200, 200), fmt)
    with pytest.raises(ImageError, match="damaged or truncated"):
        decode_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("1", (12_000, 6_000)), "PNG")  # 72 megapixels in a few kB
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="too large"):
        decode_image(bomb)


def test_absurd_dimensions_are_refused():
    with pytest.raises(ImageError, match="too large"):
        decode_image(encode(Image.new("L", (30_000, 1)), "PNG"))


def test_paths(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)
    p = tmp_path / "ok.png"
    gradient().save(p)
    assert load_image(p).size == (40, 30)


def test_png_round_trips_settings_and_never_leaves_partial_files(tmp_path):
    settings = {"seed": 7, "style_weight": 10.0, "size": 64}
    path = tmp_path / "out.png"
    images.save_png(gradient(), path, settings)
    assert images.read_png_settings(str(path)) == settings
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_tensor_round_trip_and_resize():
    img = gradient()
    t = images.image_to_tensor(img)
    assert t.shape == (1, 3, 30, 40) and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(np.asarray(images.tensor_to_image(t)), np.asarray(img))
    assert images.resize_long_side(img, 80).size == (80, 60)


def test_match_color_gives_the_reference_palette():
    g = torch.Generator().manual_seed(0)
    src = torch.rand(1, 3, 32, 32, generator=g) * 0.5
    ref = torch.rand(1, 3, 32, 32, generator=g) * 0.3 + torch.tensor([0.6, 0.2, 0.1]).view(1, 3, 1, 1)
    out = images.match_color(src, ref)
    assert torch.allclose(out.mean((2, 3)), ref.mean((2, 3)), atol=0.02)


def test_a_long_gif_time_lapse_is_a_preview_of_at_most_48_frames_at_512_px_ending_on_the_result():
    import numpy as np
    from PIL import ImageDraw

    def frame(i):  # a bar moving right, 10 px a frame
        img = Image.new("RGB", (1024, 768))
        ImageDraw.Draw(img).rectangle((i * 10, 0, i * 10 + 19, 767), fill=(255, 220, 0))
        return img

    gif = Image.open(io.BytesIO(images.gif_bytes([frame(i) for i in range(100)])))
    assert gif.size == (512, 384) and gif.n_frames == images.GIF_MAX_FRAMES
    gif.seek(gif.n_frames - 1)
    columns = np.asarray(gif.convert("L"), dtype=float).mean(axis=0)
    assert abs(columns.argmax() - 999 / 2) < 6  # the last frame is the run's last


def test_gif_time_lapse_scales_frames_to_one_size():
    frames = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(3)] + [Image.new("RGB", (32, 32))]
    gif = Image.open(io.BytesIO(images.gif_bytes(frames)))
    assert gif.size == (32, 32) and gif.n_frames == 4  # each colour in the shared palette
