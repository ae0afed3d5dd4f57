"""Neural style transfer you can watch: Gatys et al. on the pixels, coarse to fine, with live controls."""
from .engine import Controls, Progress, Settings, StyleTransfer, stylize

__all__ = ["Controls", "Progress", "Settings", "StyleTransfer", "stylize"]
