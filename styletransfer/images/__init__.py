"""Images in and out, by concern: ``decoding`` (untrusted files), ``geometry``, ``tensors`` (and colour
matching), ``records`` (PNG with the run's record, JPEG, atomic writes), ``timelapse`` (GIF, MP4)."""
from .decoding import (DEFAULT_MAX_INPUT_PIXELS, MAX_SIDE, NOTES_KEY, ImageError, check_dimensions, checked_rgb,
                       decode_image, load_image, notes_of, open_image)
from .geometry import long_side_size, resize_long_side
from .records import PNG_SETTINGS_KEY, data_url, jpeg_bytes, png_bytes, read_png_settings, save_png, write_atomic
from .tensors import image_to_tensor, match_color, resize_tensor, tensor_to_image
from .timelapse import GIF_MAX_FRAMES, GIF_MAX_SIDE, gif_bytes, mp4_bytes

__all__ = ["DEFAULT_MAX_INPUT_PIXELS", "GIF_MAX_FRAMES", "GIF_MAX_SIDE", "MAX_SIDE", "NOTES_KEY", "PNG_SETTINGS_KEY",
           "ImageError", "check_dimensions", "checked_rgb", "data_url", "decode_image", "gif_bytes",
           "image_to_tensor", "jpeg_bytes", "load_image", "long_side_size", "match_color", "mp4_bytes", "notes_of",
           "open_image", "png_bytes", "read_png_settings", "resize_long_side", "resize_tensor", "save_png",
           "tensor_to_image", "write_atomic"]
