"""The studio page. Component ids are the contract with callbacks.py and the browser tests."""
from __future__ import annotations

import math
import os

import plotly.graph_objects as go
from dash import dcc, html

from ..backbones import BACKBONES, list_checkpoints
from ..examples import EXAMPLES
from ..settings import Settings

LOSS_TERMS = ("content", "style", "tv", "total")
LOSS_COLOURS = {"content": "#2b6cb0", "style": "#c05621", "tv": "#718096", "total": "#1a202c"}

# Log-scale weight sliders, one per live weight: label, range, default and help come from Settings.
WEIGHT_SLIDERS = {"content-weight": "content_weight", "style-weight": "style_weight", "tv-weight": "tv_weight"}


def format_weight(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


def weight_slider(slider_id: str) -> html.Div:
    field = Settings.__dataclass_fields__[WEIGHT_SLIDERS[slider_id]]
    label, help_text, default = field.metadata["label"], field.metadata["help"], field.default
    lo, hi = field.metadata["slider"]
    marks = {e: {"label": format_weight(10 ** e)} for e in range(lo, hi + 1)}
    return html.Div(className="control", children=[
        html.Label([label, html.Span(format_weight(default), id=f"{slider_id}-value", className="value")],
                   htmlFor=slider_id),
        dcc.Slider(id=slider_id, min=lo, max=hi, step=0.05, value=math.log10(default), marks=marks,
                   updatemode="mouseup", allow_direct_input=False,
                   tooltip={"placement": "top", "transform": "tenToThe"}),
        html.Div(help_text, className="hint"),
    ])


def upload(upload_id: str, title: str, hint: str) -> html.Div:
    base = upload_id.replace("-upload", "")
    return html.Div(className="upload-block", children=[
        html.Div(title, className="block-title"),
        dcc.Upload(
            # no `accept` filter: a refused file must reach the server and get its message, not vanish
            id=upload_id, className="dropzone", className_active="dropzone active", multiple=False,
            children=html.Div([
                html.Img(id=f"{base}-preview", className="thumb", alt=""),
                html.Div([html.Strong("Drop an image"), html.Span(" or click to choose"), html.Br(),
                          html.Small(hint)], className="dropzone-text"),
            ]),
        ),
        html.Div(id=f"{base}-message", className="upload-message", role="status"),
    ])


def examples_row() -> html.Div:
    buttons = [
        html.Button([html.Img(src=f"/examples/{name}.jpg", alt=title), html.Span(title)],
                    id={"type": f"example-{kind}", "name": name}, className=f"example example-{kind}",
                    title=f"use as {'photo' if kind == 'content' else 'painting'}")
        for name, (kind, title, _) in EXAMPLES.items()
    ]
    return html.Div(className="examples", children=[html.Div("No files at hand? Try an example:",
                                                             className="hint"), html.Div(buttons, className="row")])


def empty_figure() -> go.Figure:
    fig = go.Figure()
    for term in LOSS_TERMS:
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=term, line={"color": LOSS_COLOURS[term],
                                                                             "width": 2 if term == "total" else 1.5}))
    fig.update_layout(
        margin={"l": 50, "r": 10, "t": 30, "b": 40}, height=320, template="plotly_white",
        xaxis={"title": "iteration"}, yaxis={"title": "loss (log)", "type": "log"},
        legend={"orientation": "h", "y": 1.12}, shapes=[], annotations=[], uirevision="keep",
    )
    return fig


def backbone_options(models_dir: str | None) -> list[dict]:
    """The built-in backbones — those whose weights are not on this machine greyed out, with where to put
    the file as their tooltip — then the checkpoints found in ``models_dir`` (value: the file's path)."""
    options = []
    for name, spec in BACKBONES.items():
        missing = spec.missing_weights()
        options.append({"label": f"{name} — weights not on this machine" if missing else name, "value": name,
                        "title": f"{spec.description}. To use it: {missing}" if missing else spec.description,
                        "disabled": bool(missing)})
    return options + [{"label": f"{os.path.basename(p)} (yours)", "value": p, "title": f"your checkpoint {p}"}
                      for p in list_checkpoints(models_dir)]


def frame_url(view) -> str | None:
    """The job's latest preview; the frame number in the URL keeps a browser from showing a cached older one."""
    return f"/frames/{view.id}/latest.jpg?seq={view.frame_seq}" if view.frame_seq else None


def new_chart(job_id: str) -> dict:
    """The loss chart's state for a job drawn from its start: the poll fills it from iteration 0."""
    return {"job": job_id, "iteration": 0, "events": 0}


def gallery(views: list, current: str | None) -> list:
    """The session's jobs, newest first: a thumbnail, status and key settings each; a click reopens one,
    and a queued one can be cancelled here."""
    if not views:
        return [html.Div("Your jobs appear here.", className="hint")]
    items = []
    for v in reversed(views):
        s = v.settings
        url = frame_url(v)
        thumb = (html.Img(src=url, alt="", className="gallery-thumb") if url
                 else html.Div(className="gallery-thumb empty"))
        caption = f"{s['size']} px · style {s['style_weight']:g} · {os.path.basename(str(s['backbone']))}"
        item = [html.Button([thumb, html.Span(v.status, className=f"status status-{v.status}"),
                             html.Span(caption, className="gallery-caption")],
                            id={"type": "gallery-open", "job": v.id}, title="show this job",
                            className="gallery-open" + (" current" if v.id == current else ""))]
        if v.status == "queued":
            item.append(html.Button("Cancel", id={"type": "gallery-cancel", "job": v.id},
                                    className="gallery-cancel", title="take it out of the queue"))
        items.append(html.Div(item, className="gallery-item"))
    return items


def build_layout(size_options: list[int], default_size: int, default_iterations: int, max_iterations: int,
                 models_dir: str | None = None, current_job: str | None = None, max_upload_bytes: int = 20 * 2**20,
                 jobs: list | None = None):
    """The page; ``current_job`` (the session's latest job) is shown again after a reload or a return."""
    controls = html.Section(className="panel controls", children=[
        upload("content-upload", "1 · Photo", "JPEG, PNG, WebP, TIFF…"),
        upload("style-upload", "2 · Painting", "the style to paint with"),
        html.Details(className="more", children=[
            html.Summary("Blend a second painting"),
            upload("style2-upload", "Second painting (optional)", "its style is mixed in"),
            html.Div(className="control", children=[
                html.Label(["Blend", html.Span("50%", id="style-blend-value", className="value")],
                           htmlFor="style-blend"),
                dcc.Slider(id="style-blend", min=0, max=1, step=0.05, value=0.5, allow_direct_input=False,
                           marks={0: "first", 0.5: "half", 1: "second"}),
            ]),
        ]),
        examples_row(),
        html.Div("3 · Weights (change them while it runs)", className="block-title"),
        *[weight_slider(s) for s in WEIGHT_SLIDERS],
        html.Div(className="grid2", children=[
            html.Div(className="control", children=[
                html.Label("Size (long side)", htmlFor="size"),
                dcc.Dropdown(id="size", options=[{"label": f"{s} px", "value": s} for s in size_options],
                             value=default_size, clearable=False),
            ]),
            html.Div(className="control", children=[
                html.Label("Backbone", htmlFor="backbone"),
                dcc.Dropdown(id="backbone", options=backbone_options(models_dir), value="vgg19", clearable=False),
                html.Div("the network that sees the images; greyed out: its weights are not on this machine "
                         "(the tooltip says which file goes where)", className="hint"),
            ]),
        ]),
        html.Div(className="control", children=[
            html.Label(["Quality", html.Span(f"{default_iterations} iterations", id="iterations-value",
                                             className="value")], htmlFor="iterations"),
            dcc.Slider(id="iterations", min=5, max=max_iterations, step=5, value=default_iterations,
                       allow_direct_input=False,
                       marks={5: "draft", default_iterations: "default", max_iterations: "fine"}),
            html.Div("iterations at the final size; smaller sizes first run twice as many each", className="hint"),
        ]),
        html.Div(className="grid2", children=[
            html.Div(className="control", children=[
                html.Label("Optimiser", htmlFor="optimizer"),
                dcc.RadioItems(id="optimizer", options=[{"label": " L-BFGS", "value": "lbfgs"},
                                                        {"label": " Adam", "value": "adam"}],
                               value="lbfgs", inline=True),
                html.Div("how each step is chosen: L-BFGS gets there in fewer steps; Adam is steadier with "
                         "very large weights", className="hint"),
            ]),
            html.Div(className="control", children=[
                dcc.Checklist(id="options", options=[{"label": " keep the photo's colours", "value": "preserve_color"},
                                                     {"label": " coarse-to-fine", "value": "multiscale"}],
                              value=["multiscale"]),
                html.Div("coarse-to-fine: paint small first, then at twice the size, up to the full size — "
                         "big strokes first, and faster", className="hint"),
            ]),
        ]),
        html.Div(className="buttons", children=[
            html.Button("Start", id="start-button", className="primary"),
            html.Button("Stop", id="stop-button", disabled=True),
        ]),
        html.Div(id="estimate", className="hint", role="status"),
        # the estimate is asked again for a minute: the first measurement of this machine may still be running
        dcc.Interval(id="estimate-refresh", interval=3000, max_intervals=20),
        html.Div(id="start-message", className="upload-message", role="alert"),
    ])

    stage = html.Section(className="panel stage", children=[
        html.Div(className="status-line", children=[
            html.Span("idle", id="status", className="status status-idle"),
            html.Span(id="live-note", className="hint"),
        ]),
        html.Div(id="progress", className="progress", children=[
            html.Div(className="bar", style={"width": "0%"}), html.Div("Add a photo and a painting, then Start.",
                                                                        className="progress-text")]),
        html.Div(className="stage-grid", children=[
            html.Div(className="preview-frame", children=[
                html.Img(id="before-image", className="before", alt=""),
                html.Img(id="preview-image", className="after", alt="the image being painted"),
            ]),
            html.Div(className="side", children=[
                dcc.Graph(id="loss-graph", figure=empty_figure(), config={"displayModeBar": False, "responsive": True}),
                html.Div(className="control compare", children=[
                    html.Label("Compare with the photo", htmlFor="compare"),
                    dcc.Slider(id="compare", min=0, max=100, step=1, value=100, allow_direct_input=False,
                               marks={0: "photo", 100: "painting"}, updatemode="drag"),
                ]),
                html.Div(className="downloads", children=[
                    html.A("Download PNG", id="download-result", className="button disabled", href=None,
                           download=""),
                    html.A("Time-lapse (MP4)", id="download-timelapse", className="button disabled", href=None,
                           download=""),
                    html.A("GIF", id="download-timelapse-gif", className="button disabled", href=None, download="",
                           title="the time-lapse as an animated GIF (larger)"),
                ]),
                html.Div(className="downloads", children=[
                    html.Button("Run again", id="run-again-button", disabled=True,
                                title="the same images, settings and seed: a new job"),
                    html.Button("Continue", id="continue-button", disabled=True,
                                title="more iterations at full size, from this result (the Quality slider's number)"),
                ]),
            ]),
        ]),
        html.Div("Your jobs", className="block-title"),
        html.Div(gallery(jobs or [], current_job), id="job-gallery", className="gallery"),
    ])

    return html.Div(className="studio", children=[
        html.Header([html.A("One-shot version: /quick →", href="/quick/", className="hint header-link"),
                     html.H1("Style Transfer Studio"),
                     html.P("Watch a photo turn into a painting: gradient descent on its pixels through VGG19 "
                            "(Gatys et al.). Steer the weights while it runs.")]),
        html.Main([controls, stage]),
        dcc.Store(id="job-id", data=current_job),
        dcc.Store(id="chart-state"),
        dcc.Interval(id="poll", interval=400, disabled=current_job is None),
        # read by assets/studio.js: a file over the limit gets its message before it is read or sent
        html.Div(id="studio-limits", hidden=True, **{"data-max-upload": str(max_upload_bytes)}),
        html.Span(id="scroll-anchor", hidden=True),
    ])
