"""Checks on what the tool writes that need a decoder."""
import io


def video_frames(data: bytes) -> int:
    """How many frames an MP4 holds (decoded with PyAV), checking that it is H.264."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        return sum(1 for _ in container.decode(stream))
