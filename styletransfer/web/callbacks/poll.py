"""The poll: the job on the page drawn as it runs, switched off once it has ended."""
from __future__ import annotations

import dash
from dash import Input, Output, State

from .. import ids
from ..layout import offered_sizes
from ..present import (chart_patch, download_links, frame_url, gallery, new_chart, print_menu, progress_children,
                       rerun_disabled, status_label)
from ..sessions import session_id
from .common import callback

DOWNLOADS = {"result": ids.DOWNLOAD_RESULT, "timelapse": ids.DOWNLOAD_TIMELAPSE,
             "timelapse_gif": ids.DOWNLOAD_TIMELAPSE_GIF}


def register(app, wiring) -> None:
    jobs = wiring.jobs
    output = {
        "preview": Output(ids.PREVIEW_IMAGE, "src"), "figure": Output(ids.LOSS_GRAPH, "figure"),
        "progress": Output(ids.PROGRESS, "children"), "status": Output(ids.STATUS, "children"),
        "status_class": Output(ids.STATUS, "className"),
        **{f"{key}_href": Output(cid, "href") for key, cid in DOWNLOADS.items()},
        **{f"{key}_class": Output(cid, "className") for key, cid in DOWNLOADS.items()},
        "poll_off": Output(ids.POLL, "disabled"), "stop_off": Output(ids.STOP, "disabled"),
        "again_off": Output(ids.RUN_AGAIN, "disabled"), "more_off": Output(ids.CONTINUE, "disabled"),
        "print_off": Output(ids.PRINT, "disabled"), "print_options": Output(ids.PRINT_SIZE, "options"),
        "print_size": Output(ids.PRINT_SIZE, "value"),
        "chart": Output(ids.CHART_STATE, "data"),
        "live_note": Output(ids.LIVE_NOTE, "children", allow_duplicate=True),
        "gallery": Output(ids.GALLERY, "children", allow_duplicate=True)}

    def downloads(view) -> dict:
        links = download_links(view)
        return {**{f"{key}_href": links[key][0] for key in DOWNLOADS},
                **{f"{key}_class": links[key][1] for key in DOWNLOADS}}

    @callback(app, output=output, inputs={"tick": Input(ids.POLL, "n_intervals")},
              state={"job_id": State(ids.JOB_ID, "data"), "chart": State(ids.CHART_STATE, "data")},
              prevent_initial_call=True)
    def poll(tick, job_id, chart):
        if not job_id:
            raise dash.exceptions.PreventUpdate
        owner = session_id()
        view = jobs.get(job_id, owner)
        status, status_class = status_label(view)
        again_off, more_off = rerun_disabled(view)
        buttons = {"again_off": again_off, "more_off": more_off, "print_off": more_off}
        if view is None:
            return {"progress": progress_children(None), "status": status, "status_class": status_class,
                    **downloads(None), "poll_off": True, "stop_off": True, **buttons, "chart": None, "live_note": "",
                    "gallery": gallery(jobs.list(owner), None)}
        finished = view.is_finished
        chart = chart if isinstance(chart, dict) and chart.get("job") == job_id else new_chart(job_id)
        # the gallery is redrawn when this job's status changes (a thumbnail appears, a status moves on)
        redraw = chart.get("status") != view.status or (view.status == "running" and chart.get("seq", 0) == 0
                                                        < view.frame_seq)
        figure, chart = chart_patch(chart, jobs.loss_history(job_id, owner, since=chart["iteration"]), view.events)
        answer = {"progress": progress_children(view), "status": status, "status_class": status_class,
                  **downloads(view), "poll_off": finished, "stop_off": finished, **buttons,
                  "chart": {**chart, "status": view.status, "seq": view.frame_seq}}
        if frame_url(view):
            answer["preview"] = frame_url(view)
        if figure is not None:
            answer["figure"] = figure
        # the job's own note (resumed, time limit) or, once it has ended, none ("Stopping…" goes)
        if view.note or finished:
            answer["live_note"] = view.note or ""
        if redraw:
            answer["gallery"] = gallery(jobs.list(owner), job_id)
            if not more_off:  # a finished result: the print sizes the workers can do, with what each costs
                options = print_menu(jobs.print_options(job_id, owner, offered_sizes(wiring.limits)[1]))
                answer.update(print_options=options, print_size=options[0]["value"] if options else None,
                              print_off=not options)
        return answer
