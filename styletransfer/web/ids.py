"""The page's component ids, each defined once: the contract between the layout, the callbacks,
``assets/studio.js`` and the browser tests."""
from __future__ import annotations

# uploads: base name -> (what it holds, in messages); each has BASE-upload, BASE-preview and BASE-message
UPLOADS = {"content": "photo", "style": "painting", "style2": "second painting"}


def upload(base: str) -> str:
    return f"{base}-upload"


def preview(base: str) -> str:
    return f"{base}-preview"


def message(base: str) -> str:
    return f"{base}-message"


# log-scale weight sliders: slider id -> the live setting it sets; each has a read-out SLIDER-value
WEIGHT_SLIDERS = {"content-weight": "content_weight", "style-weight": "style_weight", "tv-weight": "tv_weight"}


def readout(slider_id: str) -> str:
    return f"{slider_id}-value"


STYLE_BLEND = "style-blend"
SIZE = "size"
BACKBONE = "backbone"
BACKBONE_NOTE = "backbone-note"
ITERATIONS = "iterations"         # the Quality slider: its value is a position among QUALITY_STOPS
QUALITY_STOPS = "quality-stops"   # a store: the iterations at each of its positions
OPTIMIZER = "optimizer"
OPTIONS = "options"
START = "start-button"
STOP = "stop-button"
ESTIMATE = "estimate"
ESTIMATE_REFRESH = "estimate-refresh"
START_MESSAGE = "start-message"
STATUS = "status"
LIVE_NOTE = "live-note"
PROGRESS = "progress"
BEFORE_IMAGE = "before-image"
PREVIEW_IMAGE = "preview-image"
LOSS_GRAPH = "loss-graph"
COMPARE = "compare"
DOWNLOAD_RESULT = "download-result"
DOWNLOAD_TIMELAPSE = "download-timelapse"
DOWNLOAD_TIMELAPSE_GIF = "download-timelapse-gif"
RUN_AGAIN = "run-again-button"
CONTINUE = "continue-button"
PRINT = "print-button"
PRINT_SIZE = "print-size"
GALLERY = "job-gallery"
GALLERY_OPEN = "gallery-open"      # pattern ids: {"type": GALLERY_OPEN, "job": id}
GALLERY_CANCEL = "gallery-cancel"
EXAMPLE = "example-{kind}"         # pattern ids: {"type": "example-content" | "example-style", "name": ...}
JOB_ID = "job-id"
NOTICE = "service-notice"
CHART_STATE = "chart-state"
POLL = "poll"
LIMITS = "studio-limits"
SCROLL_ANCHOR = "scroll-anchor"
