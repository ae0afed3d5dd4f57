"""The uploads, each checked next to its image, and the example buttons."""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, ctx

from ...engine import check_painting, check_photo
from ...examples import EXAMPLES, example_image
from ...images import data_url, png_bytes
from ...settings import Settings
from .. import ids
from ..inputs import UPLOADS_PATH, decode_upload, offered_backbone, upload_message
from ..sessions import session_id
from .common import callback


def register(app, wiring) -> None:
    for base, what in ids.UPLOADS.items():
        _register_check(app, wiring, base, what)
    # One callback per kind: Dash drops the answer of a callback that is fired again while in flight,
    # so a photo example clicked just before a painting example must not share a callback with it.
    for kind, base in (("content", "content"), ("style", "style")):
        _register_example(app, wiring, kind, base)


def _register_check(app, wiring, base: str, what: str) -> None:
    check = check_photo if base == "content" else check_painting

    @callback(app,
              output={"preview": Output(ids.preview(base), "src"), "message": Output(ids.message(base), "children"),
                      "message_class": Output(ids.message(base), "className"),
                      "start_message": Output(ids.START_MESSAGE, "children", allow_duplicate=True)},
              inputs={"contents": Input(ids.upload(base), "contents"), "size": Input(ids.SIZE, "value"),
                      "backbone": Input(ids.BACKBONE, "value")},
              state={"filename": State(ids.upload(base), "filename")}, prevent_initial_call=True)
    def check_upload(contents, size, backbone, filename):
        """``contents``: the upload's address (assets/studio.js sends the file to /api/uploads first)."""
        if not contents:
            raise dash.exceptions.PreventUpdate
        name = filename if isinstance(filename, str) and filename else what
        try:
            img = decode_upload(wiring.jobs.uploads, session_id(), contents, what, wiring.limits)
            check(Settings(size=size, backbone=offered_backbone(backbone, wiring.models_dir)), img.size, name)
        except ValueError as exc:  # ImageError, ImageTooSmall, SettingError: one line each
            return {"preview": None, "message": str(exc), "message_class": "upload-message error"}
        # a new image answers Start's last complaint ("add a painting first"): it goes
        return {"preview": data_url(img, "JPEG", 640), "message": upload_message(img, name),
                "message_class": "upload-message ok", "start_message": ""}


def _register_example(app, wiring, kind: str, base: str) -> None:
    @callback(app, output={"contents": Output(ids.upload(base), "contents"),
                           "filename": Output(ids.upload(base), "filename")},
              inputs={"clicks": Input({"type": ids.EXAMPLE.format(kind=kind), "name": ALL}, "n_clicks")},
              prevent_initial_call=True)
    def use_example(clicks):
        name = ctx.triggered_id["name"] if isinstance(ctx.triggered_id, dict) else None
        if name not in EXAMPLES or not isinstance(clicks, list) or not any(clicks):
            raise dash.exceptions.PreventUpdate
        token = wiring.jobs.uploads.put(session_id(), png_bytes(example_image(name)), f"{name}.png")
        return {"contents": UPLOADS_PATH + token, "filename": f"{name}.png"}
