"""Limits are read from the environment in one place, Limits.from_env()."""
import pytest

from styletransfer import images
from styletransfer.limits import Limits


def test_defaults_and_overrides():
    assert Limits.from_env({}) == Limits()
    limits = Limits.from_env({"STUDIO_MAX_UPLOAD_MB": "2", "STUDIO_MAX_SIZE": "300",
                              "STYLETRANSFER_MAX_INPUT_PIXELS": "1000000", "STUDIO_FRAME_INTERVAL_S": "0.5"})
    assert limits.max_upload_bytes == 2 * 2**20 and limits.max_size == 300
    assert limits.max_input_pixels == 1_000_000 and limits.frame_interval == 0.5


@pytest.mark.parametrize("value", ["lots", "-3", "0", "inf"])
def test_a_malformed_value_is_one_clear_error(value):
    with pytest.raises(ValueError, match=f"STUDIO_MAX_SIZE must be a .*number, not '{value}'"):
        Limits.from_env({"STUDIO_MAX_SIZE": value})


def test_nothing_else_reads_the_environment(monkeypatch, bad_files):
    # the decoder's limit is the one it is given, not an environment variable read at import
    monkeypatch.setenv("STYLETRANSFER_MAX_INPUT_PIXELS", "10")
    with open(bad_files["panorama.png"], "rb") as f:
        data = f.read()
    assert images.decode_image(data).size == (4000, 60)
    with pytest.raises(images.ImageError, match="too large"):
        images.decode_image(data, max_pixels=1000)
