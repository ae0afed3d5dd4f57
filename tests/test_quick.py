"""/quick through fast-dash's public API: the function keeps nothing of a visitor's, the page nothing from outside."""
import io

import flask
import pytest
from dash import no_update
from dash_iconify import DashIconify
from PIL import Image

from styletransfer.jobs import LocalJobs
from styletransfer.limits import Limits
from styletransfer.web.quick import build_quick
from styletransfer.web.sessions import NewSessions, session_id


def png(size) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture()
def quick_and_jobs():
    jobs = LocalJobs(devices=["cpu"], preload=None)
    try:
        yield build_quick(jobs, Limits(), secret="test", new_sessions=NewSessions(30)), jobs
    finally:
        jobs.shutdown()


def icons_in(component) -> int:
    if isinstance(component, DashIconify):
        return 1
    if isinstance(component, (list, tuple)):
        return sum(icons_in(c) for c in component)
    if hasattr(component, "to_plotly_json"):
        return sum(icons_in(v) for v in component.to_plotly_json()["props"].values())
    return 0


def test_the_page_has_no_icon_that_would_be_fetched_from_outside(quick_and_jobs):
    quick, _ = quick_and_jobs
    assert icons_in(quick.app.layout) == 0


def test_run_submits_the_visitors_job_and_returns_nothing_of_theirs(quick_and_jobs):
    quick, jobs = quick_and_jobs
    paint = quick.callback_fn
    with quick.server.test_request_context("/quick/"):
        owner = session_id()
        photo = "/api/uploads/" + jobs.uploads.put(owner, png((300, 200)), "photo.png")
        painting = "/api/uploads/" + jobs.uploads.put(owner, png((128, 128)), "painting.png")
        assert paint(photo, painting, 10, 5) is no_update  # fast-dash's shared state holds no one's picture
        [job] = jobs.list(owner)
        assert job.note == "made on /quick" and job.settings["size"] == 256
        # bad input is said on the page, once, and submits nothing
        assert paint(photo, None, 10, 5) is no_update
        assert flask.g.quick_error == "Add both a photo and a painting."
        assert paint(photo, "/api/uploads/not-a-token", 10, 5) is no_update
        assert "uploaded image" in flask.g.quick_error
        assert len(jobs.list(owner)) == 1
