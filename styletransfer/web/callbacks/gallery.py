"""The session's jobs: a click on one shows it again (the poll draws it), a queued one can be cancelled."""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, ctx

from .. import ids
from ..layout import empty_figure
from ..present import gallery, new_chart
from ..sessions import session_id
from .common import callback, cancel_mine


def _clicked_job(clicks) -> str | None:
    job_id = ctx.triggered_id.get("job") if isinstance(ctx.triggered_id, dict) else None
    return str(job_id) if job_id and isinstance(clicks, list) and any(clicks) else None


def register(app, wiring) -> None:
    jobs = wiring.jobs

    @callback(app, output={"job": Output(ids.JOB_ID, "data", allow_duplicate=True),
                           "poll_off": Output(ids.POLL, "disabled", allow_duplicate=True),
                           "chart": Output(ids.CHART_STATE, "data", allow_duplicate=True),
                           "figure": Output(ids.LOSS_GRAPH, "figure", allow_duplicate=True),
                           "live_note": Output(ids.LIVE_NOTE, "children", allow_duplicate=True)},
              inputs={"clicks": Input({"type": ids.GALLERY_OPEN, "job": ALL}, "n_clicks")}, prevent_initial_call=True)
    def open_job(clicks):
        job_id = _clicked_job(clicks)
        if job_id is None or jobs.get(job_id, session_id()) is None:
            raise dash.exceptions.PreventUpdate
        # the poll draws it (status, preview, chart from iteration 0, downloads) at its next tick
        return {"job": job_id, "poll_off": False, "chart": new_chart(job_id), "figure": empty_figure(),
                "live_note": ""}

    @callback(app, output={"gallery": Output(ids.GALLERY, "children", allow_duplicate=True)},
              inputs={"clicks": Input({"type": ids.GALLERY_CANCEL, "job": ALL}, "n_clicks")},
              state={"current": State(ids.JOB_ID, "data")}, prevent_initial_call=True)
    def cancel_queued(clicks, current):
        job_id = _clicked_job(clicks)
        if job_id is None:
            raise dash.exceptions.PreventUpdate
        cancel_mine(jobs, job_id)
        return {"gallery": gallery(jobs.list(session_id()), current)}
