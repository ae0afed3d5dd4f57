"""``/quick``: a one-shot fast-dash page on the studio's job backend (fast-dash's changes: docs/architecture.md)."""
from __future__ import annotations

import os
import urllib.parse
from typing import Annotated

import flask

import PIL.Image
from dash import Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component
from dash_iconify import DashIconify
from fast_dash import FastDash, Fastify

from ..jobs import DONE, FAILED, STOPPED
from ..limits import Limits
from ..settings import Settings
from .inputs import decode_upload
from .present import estimate_text, frame_url, job_urls, progress_text
from .security import CALLBACK_MAX_BYTES, register_sessions
from .sessions import NewSessions, client_address, session_id

QUICK_SIZE = 256
QUICK_NOTE = "made on /quick"   # the page shows the session's latest job with this note
ERROR_COOKIE = "quick_error"
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
BOOTSTRAP_CSS = "/quick/assets-local/bootstrap.min.css"
UPLOAD_MESSAGE = "quick-{}-message"  # under each upload zone (uploads.js writes there)
SLIDER_VALUE = "quick-{}-value"      # beside each slider's label
SLIDERS = {"style_strength": "", "quality": " iterations"}  # fast-dash's slider ids, and the read-out's unit
QUICK_CSS = "/quick/assets-local/quick.css"
NARROW_PX = 768  # Mantine's "sm" breakpoint, where fast-dash's sidebar starts to cover the page


def image_zone() -> Component:
    """An upload zone whose value (the address uploads.js gives it) fast-dash hands over undecoded."""
    return Fastify(dcc.Upload(children=html.Div("Click to upload image"), className="quick-upload",
                              style={"lineHeight": "60px", "borderWidth": "1px", "borderStyle": "dashed",
                                     "borderRadius": "5px", "textAlign": "center"}),
                   "contents", ack=Fastify(html.Img(width="100%", style={"paddingTop": "1%"}), "src"))


def without_icons(component):
    """``component`` with its DashIconify icons (fetched from an icon API) replaced by empty spans."""
    if isinstance(component, DashIconify):
        return html.Span(className="fd-icon", style={"display": "inline-block",
                                                     "width": getattr(component, "width", None) or 16})
    if isinstance(component, (list, tuple)):
        return [without_icons(c) for c in component]
    if isinstance(component, Component):
        for name, value in component.to_plotly_json()["props"].items():
            if isinstance(value, (Component, list, tuple)):
                setattr(component, name, without_icons(value))
    return component


def quick_settings(style_strength, quality) -> Settings:
    """A /quick run's settings from its two sliders (TypeError or ValueError for values no slider gives)."""
    return Settings(size=QUICK_SIZE, iterations=int(quality), style_weight=float(style_strength))


def build_quick(jobs, limits: Limits, secret: str, new_sessions: NewSessions,
                public_url: str | None = None) -> FastDash:
    """The fast-dash app for ``/quick`` (its ``.server`` is the WSGI app to mount there)."""
    quick = FastDash(
        callback_fn=paint_function(jobs, limits), title="Quick stylise", theme="BOOTSTRAP", footer=False,
        requests_pathname_prefix="/quick/", assets_ignore=r"markdown\.css",
    )
    quick.app.config.external_stylesheets = [BOOTSTRAP_CSS, QUICK_CSS]  # instead of the CDN theme
    quick.app.layout = without_icons(quick.app.layout)
    quick.app.layout["socketio"].options = {"autoConnect": False}  # kept: fast-dash's callbacks name it
    register_sessions(quick.server, secret, public_url, new_sessions)
    quick.server.config["MAX_CONTENT_LENGTH"] = CALLBACK_MAX_BYTES  # the files go to /api/uploads by themselves
    quick.app.config.external_scripts = ["/assets/uploads.js"]  # the studio's uploader, for fast-dash's uploads
    add_our_pieces(quick)
    add_callbacks(quick, jobs)
    add_server_hooks(quick)
    return quick


def paint_function(jobs, limits: Limits):
    """The function fast-dash builds the page from: it submits the job and returns nothing of the visitor's
    (fast-dash's last result is shared by all); the page's poll shows the painting."""
    def paint_my_photo(
        photo,
        painting,
        style_strength: Annotated[int, range(1, 101)] = 10,
        quality: Annotated[int, range(5, 41)] = 10,
    ) -> PIL.Image.Image:
        """Paint a photo in the style of a painting, in one go, at 256 px."""
        # Bad input is said on the page (the poll shows flask.g.quick_error) and the output is left as it is.
        try:
            if not photo or not painting:
                raise ValueError("Add both a photo and a painting.")
            images = [decode_upload(jobs.uploads, session_id(), ref, "uploaded image", limits)
                      for ref in (photo, painting)]
            jobs.submit(session_id(), images[0], images[1:], quick_settings(style_strength, quality),
                        note=QUICK_NOTE, client=client_address())
            flask.g.quick_error = ""
        except ValueError as exc:  # not an image, too large, a limit, a size the engine cannot use
            flask.g.quick_error = str(exc)
        photo = no_update  # fast-dash names its output after the returned variable
        return photo

    paint_my_photo.__annotations__.update(photo=image_zone(), painting=image_zone())
    return paint_my_photo


def add_our_pieces(quick: FastDash) -> None:
    """Upload messages, slider read-outs, the estimate, progress and download, and the page's polls."""
    # Our pieces stand in the page's flow, not in a card fixed over it (that covered the output on a desktop
    # and the Run button on a phone): an upload's refusal right under its upload zone, as in the studio; each
    # slider's value beside its label; the time a run takes, the job's progress, a run's error and the
    # download at the top of the output column, whose image — fast-dash's own output — shows the painting.
    for field in quick.app.layout["input-group"].children:  # each a Stack: label, input, its echo
        ids_here = [getattr(child, "id", None) for child in field.children]
        slider = next((i for i in ids_here if i in SLIDERS), None)
        if slider:
            label = field.children[0]
            label.children = [label.children, " ", html.Span(id=SLIDER_VALUE.format(slider), className="text-primary")]
        field.children = [piece for child in field.children for piece in (
            [child, html.Div(id=UPLOAD_MESSAGE.format(child.id), role="status",
                             style={"fontSize": "0.875em", "color": "#b02a37"})]
            if getattr(child, "id", None) in ("photo", "painting") else [child])]
    output_column = quick.app.layout["output-group-col"]
    output_column.children = [html.Div(id="quick-panel", className="small", style={"padding": "8px 12px 0"}, children=[
        html.A("← The full studio: steer it live, watch every frame", href="/"),
        html.Div(id="quick-estimate", className="text-muted", role="status"),
        html.Div(id="quick-status", role="status"),
    ]), output_column.children]  # fast-dash's one child there: its output, under a loading overlay
    quick.app.layout = html.Div([
        dcc.Interval(id="quick-poll", interval=800),
        # the estimate is asked again for a minute, as in the studio: the first measurement may still be running
        dcc.Interval(id="quick-estimate-refresh", interval=3000, max_intervals=20),
        quick.app.layout])


def add_callbacks(quick: FastDash, jobs) -> None:
    # On a narrow screen fast-dash's sidebar covers the output column: Run closes it, as its burger does, so
    # that the painting and its progress come into view (fast-dash means to, but its check never fires);
    # not while an image is missing: that is fixed in the sidebar.
    quick.app.clientside_callback(
        f"function(n, photo, painting){{ if (window.innerWidth >= {NARROW_PX} || !(photo && painting)) "
        "{ return window.dash_clientside.no_update; } return false; }",
        Output("sidebar-button", "opened", allow_duplicate=True), Input("submit_inputs", "n_clicks"),
        State("photo", "contents"), State("painting", "contents"), prevent_initial_call=True)
    for slider, unit in SLIDERS.items():
        quick.app.clientside_callback(f"function(v){{ return v + '{unit}'; }}",
                                      Output(SLIDER_VALUE.format(slider), "children"), Input(slider, "value"))

    @quick.app.callback(Output("quick-estimate", "children"), Input("style_strength", "value"),
                        Input("quality", "value"), Input("quick-estimate-refresh", "n_intervals"))
    def estimate(style_strength, quality, _n):
        """How long Run takes here at these values (this server's time model; none before it has one)."""
        try:
            settings = quick_settings(style_strength, quality)
        except (TypeError, ValueError):  # a forged value: no figure
            return ""
        return estimate_text(jobs.estimate(settings), button="Run")

    output_image = quick.outputs[0].id  # the image the function returns, named by fast-dash

    @quick.app.callback(Output(output_image, "src", allow_duplicate=True), Output("quick-status", "children"),
                        Input("quick-poll", "n_intervals"), prevent_initial_call=True)
    def show_progress(_n):
        owner = session_id()
        error = flask.request.cookies.get(ERROR_COOKIE)
        if error:
            return no_update, html.Div(urllib.parse.unquote(error), className="text-danger")
        made_here = [v for v in jobs.list(owner) if v.note == QUICK_NOTE] if owner else []
        if not made_here:  # nothing yet (an upload's own message stays)
            return no_update, no_update
        view = made_here[-1]
        src = frame_url(view) or no_update
        _, status = progress_text(view)
        result = job_urls(view)["result"]
        if view.status in (DONE, STOPPED) and result:
            download = html.A("Download PNG", href=result, id="quick-download", download="")
            return src, html.Div([status, " · ", download])
        return src, html.Div(status, className="text-danger" if view.status == FAILED else None)



def add_server_hooks(quick: FastDash) -> None:
    @quick.server.before_request
    def the_page_issues_the_session():
        """The page load issues the session, so the two uploads sent at once arrive in one."""
        if flask.request.method == "GET" and flask.request.path == "/":
            session_id()

    @quick.server.after_request
    def remember_error(response):
        """The last submission's error, for the page's poll to show inline (any web process can)."""
        error = getattr(flask.g, "quick_error", None)
        if error:
            response.set_cookie(ERROR_COOKIE, urllib.parse.quote(error), max_age=120, samesite="Lax", path="/quick/")
        elif error == "":
            response.delete_cookie(ERROR_COOKIE, path="/quick/")
        return response

    @quick.server.route("/assets-local/<any('bootstrap.min.css', 'quick.css'):name>")
    def local_css(name):
        return flask.send_from_directory(STATIC, name, max_age=86400)
