"""Running a job from the page: Start, Stop, live weights, Run again / Continue, and the estimate before Start."""
from __future__ import annotations

import dash
from dash import Input, Output, State, ctx

from ...images import data_url
from ...jobs import FINISHED, JobNotFound
from ...settings import Settings
from .. import ids
from ..inputs import decode_together, image_size_of, offered_backbone, quality_iterations, read_upload, slider_weight
from ..layout import empty_figure
from ..present import estimate_text, gallery, new_chart, queue_note
from ..sessions import client_address, session_id
from .common import callback, cancel_mine

# what a new job shown on the page resets: its id, the poll, the chart, the messages
NEW_JOB = {"job": Output(ids.JOB_ID, "data", allow_duplicate=True),
           "poll_off": Output(ids.POLL, "disabled", allow_duplicate=True),
           "chart": Output(ids.CHART_STATE, "data", allow_duplicate=True),
           "figure": Output(ids.LOSS_GRAPH, "figure", allow_duplicate=True),
           "live_note": Output(ids.LIVE_NOTE, "children", allow_duplicate=True),
           "gallery": Output(ids.GALLERY, "children", allow_duplicate=True)}


def showing(view, jobs) -> dict:
    """The answer that shows a new job from its start (messages belong to the job they describe)."""
    return {"job": view.id, "poll_off": False, "chart": new_chart(view.id), "figure": empty_figure(),
            "live_note": "", "gallery": gallery(jobs.list(session_id()), view.id)}


# Start's line under the button: a note (the queue) in the page's own colour, a refusal in red
NOTE, REFUSAL = "upload-message note", "upload-message error"


def _key(slider_id: str) -> str:
    return slider_id.replace("-", "_")  # a keyword argument's name


def settings_from_page(wiring, values: dict, styles: int) -> Settings:
    """The page's controls as settings; SettingError names the first bad value."""
    options = values["options"] if isinstance(values["options"], list) else []
    blend = values["blend"]
    return Settings.from_dict({
        "size": values["size"], "iterations": quality_iterations(values["quality"], values["stops"]),
        "optimizer": values["optimizer"],
        "backbone": offered_backbone(values["backbone"], wiring.models_dir),
        **{name: slider_weight(values[_key(slider)]) for slider, name in ids.WEIGHT_SLIDERS.items()},
        "style_blend": None if styles < 2 else ((1.0 - blend, blend) if isinstance(blend, (int, float)) else blend),
        "preserve_color": "preserve_color" in options, "multiscale": "multiscale" in options,
        "draft_backbone": draft_of(options),
    })


def draft_of(options: list) -> str | None:
    """The draft network the options ask for: the device's default (None), or none."""
    return None if "draft" in options else "none"


def register(app, wiring) -> None:
    _register_start_stop(app, wiring)
    _register_weights(app, wiring)
    _register_rerun(app, wiring)
    _register_estimate(app, wiring)


def _register_start_stop(app, wiring) -> None:
    jobs, limits = wiring.jobs, wiring.limits
    page_state = {
        **{f"{base}_contents": State(ids.upload(base), "contents") for base in ids.UPLOADS},  # their addresses
        "blend": State(ids.STYLE_BLEND, "value"), **{_key(s): State(s, "value") for s in ids.WEIGHT_SLIDERS},
        "size": State(ids.SIZE, "value"), "quality": State(ids.ITERATIONS, "value"),
        "stops": State(ids.QUALITY_STOPS, "data"),
        "backbone": State(ids.BACKBONE, "value"), "optimizer": State(ids.OPTIMIZER, "value"),
        "options": State(ids.OPTIONS, "value")}

    @callback(app, output={**NEW_JOB, "job": Output(ids.JOB_ID, "data"),
                           "start_message": Output(ids.START_MESSAGE, "children"),
                           "start_class": Output(ids.START_MESSAGE, "className"),
                           "before": Output(ids.BEFORE_IMAGE, "src")},
              inputs={"clicks": Input(ids.START, "n_clicks")}, state={**page_state, "shown": State(ids.JOB_ID, "data")},
              prevent_initial_call=True)
    def start(clicks, shown, **values):
        owner = session_id()
        busy = [j for j in jobs.list(owner) if not j.is_finished]
        try:
            parts = [read_upload(jobs.uploads, owner, values[f"{base}_contents"], what)
                     for base, what in ids.UPLOADS.items() if base != "style2" or values["style2_contents"]]
            content, *styles = decode_together(parts, limits)
            view = jobs.submit(owner, content, styles, settings_from_page(wiring, values, len(styles)),
                               client=client_address())
        except ValueError as exc:  # ImageError, ImageTooSmall, SettingError, LimitExceeded: one line each
            return {"start_message": str(exc), "start_class": REFUSAL}
        note = {"start_message": queue_note(view, busy), "start_class": NOTE}
        if any(j.id == shown for j in busy):  # the job on the page runs on in view; the new one waits in the gallery
            return {**note, "gallery": gallery(jobs.list(owner), shown)}
        return {**showing(view, jobs), **note, "before": data_url(content, "JPEG", 1024)}

    @callback(app, output={"live_note": Output(ids.LIVE_NOTE, "children", allow_duplicate=True)},
              inputs={"clicks": Input(ids.STOP, "n_clicks")}, state={"job_id": State(ids.JOB_ID, "data")},
              prevent_initial_call=True)
    def stop(clicks, job_id):
        if not job_id:
            raise dash.exceptions.PreventUpdate
        return {"live_note": "Stopping: the current image is kept." if cancel_mine(jobs, job_id) else "That job is gone."}


def _register_weights(app, wiring) -> None:
    jobs = wiring.jobs

    @callback(app, output={"live_note": Output(ids.LIVE_NOTE, "children", allow_duplicate=True)},
              inputs={_key(s): Input(s, "value") for s in ids.WEIGHT_SLIDERS}, state={"job_id": State(ids.JOB_ID, "data")},
              prevent_initial_call=True)
    def change_weights(job_id, **sliders):
        if not job_id:
            raise dash.exceptions.PreventUpdate
        view = jobs.get(job_id, session_id())
        if view is None or view.status in FINISHED:
            return {"live_note": "New weights apply to the next run."}
        try:
            jobs.update(job_id, session_id(),
                        **{name: slider_weight(sliders[_key(s)]) for s, name in ids.WEIGHT_SLIDERS.items()})
        except JobNotFound:
            return {"live_note": "That job is gone."}
        except ValueError as exc:  # a bad value, or the job finished between the two calls
            return {"live_note": str(exc)}
        return {"live_note": "New weights: applied at the next iteration."}


def _register_rerun(app, wiring) -> None:
    jobs = wiring.jobs

    @callback(app, output={**NEW_JOB, "start_message": Output(ids.START_MESSAGE, "children", allow_duplicate=True),
                           "start_class": Output(ids.START_MESSAGE, "className", allow_duplicate=True),
                           "again_off": Output(ids.RUN_AGAIN, "disabled", allow_duplicate=True),
                           "more_off": Output(ids.CONTINUE, "disabled", allow_duplicate=True),
                           "print_off": Output(ids.PRINT, "disabled", allow_duplicate=True)},
              inputs={"again": Input(ids.RUN_AGAIN, "n_clicks"), "more": Input(ids.CONTINUE, "n_clicks"),
                      "make_print": Input(ids.PRINT, "n_clicks")},
              state={"job_id": State(ids.JOB_ID, "data"), "quality": State(ids.ITERATIONS, "value"),
                     "stops": State(ids.QUALITY_STOPS, "data"), "print_size": State(ids.PRINT_SIZE, "value")},
              prevent_initial_call=True)
    def rerun(again, more, make_print, job_id, quality, stops, print_size):
        if not job_id or ctx.triggered_id not in (ids.RUN_AGAIN, ids.CONTINUE, ids.PRINT):
            raise dash.exceptions.PreventUpdate
        try:
            if ctx.triggered_id == ids.PRINT:
                view = jobs.make_print(str(job_id), session_id(), print_size, client=client_address())
            else:
                more_iterations = quality_iterations(quality, stops) if ctx.triggered_id == ids.CONTINUE else None
                view = jobs.rerun(str(job_id), session_id(), continue_iterations=more_iterations,
                                  client=client_address())
        except JobNotFound:
            return {"start_message": "That job is gone.", "start_class": REFUSAL}
        except ValueError as exc:  # a limit, images no longer kept, a bad quality value
            return {"start_message": str(exc), "start_class": REFUSAL}
        # the buttons wait for the new job to finish (no second click on the old one meanwhile)
        return {**showing(view, jobs), "start_message": "", "again_off": True, "more_off": True, "print_off": True}


def _register_estimate(app, wiring) -> None:
    jobs = wiring.jobs

    @callback(app, output={"text": Output(ids.ESTIMATE, "children")},
              inputs={"size": Input(ids.SIZE, "value"), "quality": Input(ids.ITERATIONS, "value"),
                      "options": Input(ids.OPTIONS, "value"), "contents": Input(ids.upload("content"), "contents"),
                      "refresh": Input(ids.ESTIMATE_REFRESH, "n_intervals"),
                      "backbone": Input(ids.BACKBONE, "value")},
              state={"marks": State(ids.ITERATIONS, "marks"), "stops": State(ids.QUALITY_STOPS, "data")})
    def estimate(size, quality, options, contents, refresh, backbone, marks, stops):
        options = options if isinstance(options, list) else []
        try:  # the chosen network counts: a fast one's iteration costs a fraction of VGG19's
            common = {"size": size, "multiscale": "multiscale" in options, "draft_backbone": draft_of(options),
                      "backbone": offered_backbone(backbone, wiring.models_dir)}
            settings = Settings(iterations=quality_iterations(quality, stops), **common)
            # the slider's marked points (draft, default, fine), as the layout names them
            marked = sorted(marks.items(), key=lambda mark: int(mark[0])) if isinstance(marks, dict) else []
            points = [(str(name), Settings(iterations=quality_iterations(int(position), stops), **common))
                      for position, name in marked[:3]]
        except ValueError:
            return {"text": ""}
        photo = image_size_of(jobs.uploads, session_id(), contents)
        seconds = jobs.estimate(settings, photo)
        costs = [(name, jobs.estimate(point, photo)) for name, point in points]
        return {"text": estimate_text(seconds, [(name, t) for name, t in costs if t is not None])}
