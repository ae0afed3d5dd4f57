"""Dash callbacks: uploads, Start/Stop, live weights, and the poll that draws progress.

Thin: decoding is images.py's, jobs are jobs.py's; this file only moves values between them and the page.
"""
from __future__ import annotations

import base64
import io

import dash
from dash import ALL, Input, Output, Patch, State, ctx, html, no_update
from PIL import Image

from .. import images
from ..backbones import BACKBONES, list_checkpoints
from ..engine import check_painting, check_photo
from ..examples import EXAMPLES, example_image
from ..jobs import FINISHED, JobManager, JobNotFound
from ..limits import Limits
from ..settings import SettingError, Settings
from .layout import LOSS_TERMS, empty_figure, frame_url, gallery, new_chart
from .routes import session_id


def decode_upload(contents: str | None, filename: str | None, what: str, limits: Limits):
    """dcc.Upload contents (a data URL) -> RGB image; ImageError with one line otherwise."""
    name = filename or what
    if not contents:
        raise images.ImageError(f"add a {what} first")
    try:
        header, _, payload = contents.partition(",")
        raw = base64.b64decode(payload, validate=False)
    except (ValueError, TypeError):
        raise images.ImageError(f"{name}: the upload could not be read; try again") from None
    if len(raw) > limits.max_upload_bytes:
        raise images.ImageError(f"{name}: {len(raw) / 2**20:.1f} MB is over the upload limit of "
                                f"{limits.max_upload_bytes / 2**20:.0f} MB; save it smaller (JPEG) and try again")
    return images.decode_image(raw, name=name, max_pixels=limits.max_input_pixels)


def upload_message(img, name: str) -> str:
    """What the page says under an accepted upload: its size, and any conversion (an animation's frame)."""
    return "; ".join([f"{name}: {img.width}×{img.height} px", *(n.split(": ", 1)[-1] for n in images.notes_of(img))])


def data_url(img, fmt: str = "PNG", max_side: int | None = None) -> str:
    """An image as a data: URL — upload previews as JPEG scaled to ``max_side``, examples as PNG."""
    if max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=85)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def _weight(slider_value):
    """A log10 slider's value -> the weight; anything that is not a number is passed on for the
    settings' validator to name (Dash callbacks are public endpoints: any JSON can arrive)."""
    if isinstance(slider_value, (int, float)) and not isinstance(slider_value, bool):
        return 10.0 ** min(slider_value, 300)  # 1e300 is refused by range, not by an OverflowError
    return slider_value


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


def progress_children(view: dict | None):
    if not view:
        return [html.Div(className="bar", style={"width": "0%"}),
                html.Div("Add a photo and a painting, then Start.", className="progress-text")]
    status = view.status
    total = view.total_iterations or 0
    pct = 100.0 * view.iteration / total if total else 0.0
    if status == "queued":
        ahead = view.queue_position - 1
        text = "Queued: starting next" if ahead <= 0 else f"Queued: {ahead} job{'s' * (ahead != 1)} ahead of yours"
    elif status == "running" and total:
        w, h = view.size or (0, 0)
        text = (f"Iteration {view.iteration} / {total} · scale {view.scale}/{view.scales} ({w}×{h}) · "
                f"ETA {fmt_seconds(view.eta)}")
    elif status == "running":
        text = "Starting…"
    elif status == "failed":
        text = f"Failed: {view.error}"
    else:
        text = f"{status.capitalize()} after {view.iteration} iterations in {fmt_seconds(view.elapsed)}"
        pct = 100.0 if status == "done" else pct
    return [html.Div(className=f"bar bar-{status}", style={"width": f"{pct:.1f}%"}),
            html.Div(text, className="progress-text")]


def offered_backbone(value, models_dir: str | None) -> str:
    """``value`` if the page offers it (a built-in, or a checkpoint in ``models_dir``), else SettingError:
    a forged request must not make the server load a file of its choosing."""
    if value in BACKBONES or (isinstance(value, str) and value in list_checkpoints(models_dir)):
        return value
    raise SettingError(f"unknown backbone {str(value)[:60]!r}: choose one from the menu")


def register(app: dash.Dash, manager: JobManager, limits: Limits, models_dir: str | None = None) -> None:
    # ------------------------------------------------------------------ uploads and examples

    # Checked again when the size or the backbone changes: whether a very elongated image can be used
    # depends on both, and the answer belongs next to the image, before Start.
    for base in ("content", "style", "style2"):
        what = "photo" if base == "content" else "painting"
        check = check_photo if base == "content" else check_painting

        @app.callback(Output(f"{base}-preview", "src"), Output(f"{base}-message", "children"),
                      Output(f"{base}-message", "className"),
                      Output("start-message", "children", allow_duplicate=True),
                      Input(f"{base}-upload", "contents"), Input("size", "value"), Input("backbone", "value"),
                      State(f"{base}-upload", "filename"), prevent_initial_call=True)
        def check_upload(contents, size, backbone, filename, what=what, check=check):
            if not contents:
                raise dash.exceptions.PreventUpdate
            name = filename or what
            try:
                img = decode_upload(contents, filename, what, limits)
                check(Settings(size=size, backbone=offered_backbone(backbone, models_dir)).validate(), img.size, name)
            except ValueError as exc:  # ImageError, ImageTooSmall, SettingError: one line each
                return None, str(exc), "upload-message error", no_update
            # a new image answers Start's last complaint ("add a painting first"): it goes
            return data_url(img, "JPEG", 640), upload_message(img, name), "upload-message ok", ""

    # One callback per kind: Dash drops the answer of a callback that is fired again while in flight,
    # so a photo example clicked just before a painting example must not share a callback with it.
    for kind, target in (("content", "content-upload"), ("style", "style-upload")):
        @app.callback(Output(target, "contents"), Output(target, "filename"),
                      Input({"type": f"example-{kind}", "name": ALL}, "n_clicks"), prevent_initial_call=True)
        def use_example(clicks):
            name = ctx.triggered_id["name"] if ctx.triggered_id else None
            if name not in EXAMPLES or not any(clicks):
                raise dash.exceptions.PreventUpdate
            return data_url(example_image(name)), f"{name}.png"

    # ------------------------------------------------------------------ slider read-outs (in the browser)

    for slider in ("content-weight", "style-weight", "tv-weight"):
        app.clientside_callback("function(v){ return window.dccFunctions.tenToThe(v); }",  # assets/studio.js
                                Output(f"{slider}-value", "children"), Input(slider, "value"))
    app.clientside_callback("function(v){ return v + ' iterations'; }",
                            Output("iterations-value", "children"), Input("iterations", "value"))
    app.clientside_callback("function(v){ return Math.round(v * 100) + '% second'; }",
                            Output("style-blend-value", "children"), Input("style-blend", "value"))
    app.clientside_callback(
        "function(v){ return {clipPath: 'inset(0 ' + (100 - v) + '% 0 0)'}; }",
        Output("preview-image", "style"), Input("compare", "value"))
    # After Start the status, progress and preview come into view (Start sits low in the controls; on a
    # phone the preview is a screen further down).
    app.clientside_callback(
        "function(job){ if (job) { var s = document.querySelector('.stage');"
        " if (s) { s.scrollIntoView({block: 'start'}); } } return window.dash_clientside.no_update; }",
        Output("scroll-anchor", "title"), Input("job-id", "data"), prevent_initial_call=True)

    # ------------------------------------------------------------------ start / stop

    @app.callback(
        Output("job-id", "data"), Output("poll", "disabled", allow_duplicate=True),
        Output("start-message", "children"), Output("chart-state", "data", allow_duplicate=True),
        Output("loss-graph", "figure", allow_duplicate=True), Output("before-image", "src"),
        Output("live-note", "children", allow_duplicate=True), Output("job-gallery", "children", allow_duplicate=True),
        Input("start-button", "n_clicks"),
        State("content-upload", "contents"), State("content-upload", "filename"),
        State("style-upload", "contents"), State("style-upload", "filename"),
        State("style2-upload", "contents"), State("style2-upload", "filename"), State("style-blend", "value"),
        State("content-weight", "value"), State("style-weight", "value"), State("tv-weight", "value"),
        State("size", "value"), State("iterations", "value"), State("backbone", "value"),
        State("optimizer", "value"), State("options", "value"),
        prevent_initial_call=True,
    )
    def start(_n, content, content_name, style, style_name, style2, style2_name, blend, cw, sw, tvw, size,
              iterations, backbone, optimizer, options):
        owner = session_id()
        busy = [j for j in manager.list(owner) if j.status in ("queued", "running")]
        try:
            content_img = decode_upload(content, content_name, "photo", limits)
            styles = [decode_upload(style, style_name, "painting", limits)]
            style_blend = None
            if style2:
                styles.append(decode_upload(style2, style2_name, "second painting", limits))
                style_blend = (1.0 - blend, blend) if isinstance(blend, (int, float)) else blend
            options = options if isinstance(options, list) else []
            settings = Settings.from_dict({
                "size": size, "iterations": iterations, "optimizer": optimizer,
                "backbone": offered_backbone(backbone, models_dir),
                "content_weight": _weight(cw), "style_weight": _weight(sw), "tv_weight": _weight(tvw),
                "style_blend": style_blend, "preserve_color": "preserve_color" in options,
                "multiscale": "multiscale" in options,
            })
            view = manager.submit(owner, content_img, styles, settings)
        except ValueError as exc:  # ImageError, ImageTooSmall, SettingError, LimitExceeded: one line each
            return no_update, no_update, str(exc), no_update, no_update, no_update, no_update, no_update
        if busy:
            note = (f"Queued behind your {busy[-1].status} job: it starts when that one ends "
                    f"({view.queue_position - 1} other job(s) ahead)." if view.queue_position > 1 else
                    f"Queued behind your {busy[-1].status} job: it starts when that one ends.")
        else:
            note = "" if view.queue_position <= 1 else f"Queued behind {view.queue_position - 1} job(s)."
        # messages belong to the job they describe: a new job starts with none
        return (view.id, False, note, new_chart(view.id), empty_figure(),
                data_url(content_img, "JPEG", 1024), "", gallery(manager.list(owner), view.id))

    @app.callback(Output("live-note", "children", allow_duplicate=True), Input("stop-button", "n_clicks"),
                  State("job-id", "data"), prevent_initial_call=True)
    def stop(_n, job_id):
        if not job_id:
            raise dash.exceptions.PreventUpdate
        try:
            manager.cancel(job_id, session_id())
        except JobNotFound:
            return "That job is gone."
        return "Stopping: the current image is kept."

    # ------------------------------------------------------------------ the time it will take

    @app.callback(Output("estimate", "children"), Input("size", "value"), Input("iterations", "value"),
                  Input("options", "value"), Input("content-upload", "contents"),
                  Input("estimate-refresh", "n_intervals"))
    def estimate(size, iterations, options, contents, _refresh):
        try:
            settings = Settings.from_dict({"size": size, "iterations": iterations,
                                           "multiscale": "multiscale" in (options if isinstance(options, list) else [])})
        except ValueError:
            return ""
        wh = None
        if isinstance(contents, str) and "," in contents:
            try:  # the header is enough for the size: nothing is decoded
                wh = Image.open(io.BytesIO(base64.b64decode(contents.partition(",")[2]))).size
            except Exception:  # noqa: BLE001 — the upload's own check says what is wrong with it
                wh = None
        seconds = manager.estimate(settings, wh)
        if seconds is None:
            return "The first run here measures this machine's speed; then Start says how long it takes."
        return f"About {fmt_seconds(seconds)} on this machine at this size and quality (without a queue)."

    # ------------------------------------------------------------------ run again / continue

    @app.callback(Output("run-again-button", "disabled"), Output("continue-button", "disabled"),
                  Input("status", "className"), State("job-id", "data"))
    def rerun_buttons(status_class, job_id):
        finished = any(f"status-{s}" in (status_class or "") for s in FINISHED)
        can_continue = finished and "status-failed" not in (status_class or "")
        return not (finished and job_id), not (can_continue and job_id)

    @app.callback(
        Output("job-id", "data", allow_duplicate=True), Output("poll", "disabled", allow_duplicate=True),
        Output("chart-state", "data", allow_duplicate=True), Output("loss-graph", "figure", allow_duplicate=True),
        Output("start-message", "children", allow_duplicate=True), Output("live-note", "children", allow_duplicate=True),
        Output("job-gallery", "children", allow_duplicate=True),
        Output("run-again-button", "disabled", allow_duplicate=True),
        Output("continue-button", "disabled", allow_duplicate=True),
        Input("run-again-button", "n_clicks"), Input("continue-button", "n_clicks"),
        State("job-id", "data"), State("iterations", "value"), prevent_initial_call=True)
    def rerun(_again, _more, job_id, iterations):
        if not job_id or ctx.triggered_id not in ("run-again-button", "continue-button"):
            raise dash.exceptions.PreventUpdate
        more = iterations if ctx.triggered_id == "continue-button" else None
        try:
            view = manager.rerun(str(job_id), session_id(), continue_iterations=more)
        except JobNotFound:
            return (no_update,) * 4 + ("That job is gone.",) + (no_update,) * 4
        except ValueError as exc:  # a limit, images no longer kept, a bad quality value
            return (no_update,) * 4 + (str(exc),) + (no_update,) * 4
        # both buttons wait for the new job to finish (no second click on the old one meanwhile)
        return (view.id, False, new_chart(view.id), empty_figure(), "", "",
                gallery(manager.list(session_id()), view.id), True, True)

    # ------------------------------------------------------------------ the gallery

    @app.callback(Output("job-id", "data", allow_duplicate=True), Output("poll", "disabled", allow_duplicate=True),
                  Output("chart-state", "data", allow_duplicate=True),
                  Output("loss-graph", "figure", allow_duplicate=True),
                  Output("live-note", "children", allow_duplicate=True),
                  Input({"type": "gallery-open", "job": ALL}, "n_clicks"), prevent_initial_call=True)
    def open_job(clicks):
        job_id = ctx.triggered_id["job"] if isinstance(ctx.triggered_id, dict) else None
        if not job_id or not any(clicks or []) or manager.get(str(job_id), session_id()) is None:
            raise dash.exceptions.PreventUpdate
        # the poll draws it (status, preview, chart from iteration 0, downloads) at its next tick
        return job_id, False, new_chart(job_id), empty_figure(), ""

    @app.callback(Output("job-gallery", "children", allow_duplicate=True),
                  Input({"type": "gallery-cancel", "job": ALL}, "n_clicks"), State("job-id", "data"),
                  prevent_initial_call=True)
    def cancel_queued(clicks, current):
        job_id = ctx.triggered_id["job"] if isinstance(ctx.triggered_id, dict) else None
        if not job_id or not any(clicks or []):
            raise dash.exceptions.PreventUpdate
        try:
            manager.cancel(str(job_id), session_id())
        except JobNotFound:
            pass
        return gallery(manager.list(session_id()), current)

    # ------------------------------------------------------------------ live weights

    @app.callback(Output("live-note", "children", allow_duplicate=True),
                  Input("content-weight", "value"), Input("style-weight", "value"), Input("tv-weight", "value"),
                  State("job-id", "data"), prevent_initial_call=True)
    def change_weights(cw, sw, tvw, job_id):
        if not job_id:
            raise dash.exceptions.PreventUpdate
        view = manager.get(job_id, session_id())
        if view is None or view.status in FINISHED:
            return "New weights apply to the next run."
        try:
            manager.update(job_id, session_id(), content_weight=_weight(cw), style_weight=_weight(sw),
                           tv_weight=_weight(tvw))
        except JobNotFound:
            return "That job is gone."
        except ValueError as exc:  # a bad value, or the job finished between the two calls
            return str(exc)
        return "New weights: applied at the next iteration."

    # ------------------------------------------------------------------ the poll

    @app.callback(
        Output("preview-image", "src"), Output("loss-graph", "figure"), Output("progress", "children"),
        Output("status", "children"), Output("status", "className"),
        Output("download-result", "href"), Output("download-result", "className"),
        Output("download-timelapse", "href"), Output("download-timelapse", "className"),
        Output("download-timelapse-gif", "href"), Output("download-timelapse-gif", "className"),
        Output("poll", "disabled"), Output("stop-button", "disabled"), Output("chart-state", "data"),
        Output("live-note", "children", allow_duplicate=True), Output("job-gallery", "children", allow_duplicate=True),
        Input("poll", "n_intervals"), State("job-id", "data"), State("chart-state", "data"),
        prevent_initial_call=True,
    )
    def poll(_n, job_id, chart):
        if not job_id:
            raise dash.exceptions.PreventUpdate
        view = manager.get(job_id, session_id())
        if view is None:
            return (no_update, no_update, progress_children(None), "job not found", "status status-failed",
                    None, "button disabled", None, "button disabled", None, "button disabled", True, True, None, "",
                    gallery(manager.list(session_id()), None))
        status = view.status
        finished = status in FINISHED
        src = frame_url(view) or no_update

        chart = chart if chart and chart.get("job") == job_id else new_chart(job_id)
        # the gallery is redrawn when this job's status changes (a thumbnail appears, a status moves on)
        new_gallery = (gallery(manager.list(session_id()), job_id) if chart.get("status") != status
                       or (chart.get("status") == "running" and chart.get("seq", 0) == 0 < view.frame_seq) else no_update)
        history = manager.loss_history(job_id, session_id(), since=chart["iteration"])
        figure = no_update
        if history or len(view.events) > chart["events"]:
            figure = Patch()
            xs = [h["iteration"] for h in history]
            for i, term in enumerate(LOSS_TERMS):
                figure["data"][i]["x"].extend(xs)
                # a log axis cannot show 0 (the content loss before the first step from the photo)
                figure["data"][i]["y"].extend([h[term] if h[term] > 0 else None for h in history])
            for event in view.events[chart["events"]:]:
                figure["layout"]["shapes"].append({
                    "type": "line", "xref": "x", "yref": "paper", "x0": event["iteration"],
                    "x1": event["iteration"], "y0": 0, "y1": 1, "line": {"dash": "dot", "color": "#805ad5"}})
                figure["layout"]["annotations"].append({
                    "x": event["iteration"], "y": 1, "xref": "x", "yref": "paper", "showarrow": False,
                    "text": "weights changed", "font": {"size": 10, "color": "#805ad5"}, "yanchor": "bottom"})
            chart = {**chart, "iteration": xs[-1] if xs else chart["iteration"], "events": len(view.events)}
        chart = {**chart, "status": status, "seq": view.frame_seq}

        has_image = view.frame_seq > 0
        result_href = f"/download/{job_id}/result.png" if has_image else None
        mp4_href = f"/download/{job_id}/timelapse.mp4" if view.frames else None
        gif_href = f"/download/{job_id}/timelapse.gif" if view.frames else None
        label = status if status != "failed" else f"failed: {view.error}"
        return (src, figure, progress_children(view), label, f"status status-{status}",
                result_href, "button" if result_href else "button disabled",
                mp4_href, "button" if mp4_href else "button disabled",
                gif_href, "button secondary" if gif_href else "button secondary disabled",
                finished, finished, chart,
                # the job's own note (resumed, time limit) or, once it has ended, none ("Stopping…" goes)
                view.note or ("" if finished else no_update), new_gallery)
