"""How every server callback is declared: dict outputs, keyword inputs, and bugs told from bad requests."""
from __future__ import annotations

import functools

import flask
from dash import no_update

from ...jobs import JobNotFound
from ..sessions import session_id


def callback(app, output: dict, inputs: dict, state: dict | None = None, **options):
    """``app.callback`` for a function of keyword arguments returning a dict of the outputs it changes."""
    def decorate(fn):
        @functools.wraps(fn)
        def body(**values):
            flask.g.studio_callback = fn.__name__  # from here on, an exception is this code's, not the request's
            answer = fn(**values)
            unknown = set(answer) - set(output)
            if unknown:
                raise KeyError(f"{fn.__name__} answered outputs it does not declare: {sorted(unknown)}")
            return {key: answer.get(key, no_update) for key in output}

        app.callback(output=output, inputs=inputs, state=state or {}, **options)(body)
        return fn

    return decorate


def cancel_mine(jobs, job_id) -> bool:
    """Cancel the session's job; False when it is not there (gone, or another session's)."""
    try:
        jobs.cancel(job_id, session_id())
    except JobNotFound:
        return False
    return True
