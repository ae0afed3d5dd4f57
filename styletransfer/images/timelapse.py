"""Time-lapses: an animated GIF that plays anywhere, an H.264 MP4 at full size."""
from __future__ import annotations

import io

from PIL import Image

from .geometry import long_side_size

GIF_MAX_SIDE = 512  # a GIF is the preview that plays anywhere; the MP4 keeps the full size at a tenth the bytes
GIF_MAX_FRAMES = 48


def gif_bytes(frames: list[Image.Image], size: tuple[int, int] | None = None, seconds: float = 6.0) -> bytes:
    """An animated GIF of ``frames`` lasting ~``seconds`` (capped in frames and side, one palette)."""
    if not frames:
        raise ValueError("no frames to make a time-lapse from")
    if len(frames) > GIF_MAX_FRAMES:  # evenly spread, the last kept: 8 a second is smooth enough here
        step = (len(frames) - 1) / (GIF_MAX_FRAMES - 1)
        frames = [frames[round(i * step)] for i in range(GIF_MAX_FRAMES)]
    size = size or frames[-1].size
    if max(size) > GIF_MAX_SIDE:
        size = long_side_size(size, GIF_MAX_SIDE)
    scaled = [f.convert("RGB") if f.size == size else f.convert("RGB").resize(size, Image.Resampling.BICUBIC)
              for f in frames]
    picks = sorted({round(i * (len(scaled) - 1) / 7) for i in range(8)})  # the photo, the way, the painting
    tile = long_side_size(size, 160)
    sheet = Image.new("RGB", (tile[0] * len(picks), tile[1]))
    for i, k in enumerate(picks):
        sheet.paste(scaled[k].resize(tile, Image.Resampling.BOX), (i * tile[0], 0))
    palette = sheet.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in scaled]
    per_frame = max(20, int(1000 * seconds / len(indexed)))
    durations = [per_frame] * (len(indexed) - 1) + [1000]
    buf = io.BytesIO()
    indexed[0].save(buf, format="GIF", save_all=True, append_images=indexed[1:], duration=durations, loop=0,
                    optimize=False)
    return buf.getvalue()


def mp4_bytes(frames: list[Image.Image], size: tuple[int, int] | None = None, seconds: float = 6.0) -> bytes:
    """An H.264 MP4 of ``frames`` at ``size``, lasting ~``seconds``, the last frame held a second."""
    import av

    if not frames:
        raise ValueError("no frames to make a time-lapse from")
    w, h = size or frames[-1].size
    w, h = max(2, w - w % 2), max(2, h - h % 2)  # 4:2:0 chroma needs even sides
    fps = max(2, min(30, round(len(frames) / seconds)))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "h264"
        stream = container.add_stream(codec, rate=fps, options={"crf": "20", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        held = frames + [frames[-1]] * fps
        for image in held:
            frame = av.VideoFrame.from_image(image.convert("RGB").resize((w, h), Image.Resampling.BICUBIC))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
