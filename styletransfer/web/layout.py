"""The studio page: the layout alone (component ids are ``ids.py``'s, the pieces that change are drawn by
``present.py``, the callbacks are ``callbacks/``)."""
from __future__ import annotations

import dataclasses
import math
import os

import plotly.graph_objects as go
from dash import dcc, html

from ..backbones import BACKBONES, list_checkpoints
from ..examples import EXAMPLES
from ..jobs.admission import print_sizes
from ..limits import Limits
from ..settings import Settings
from . import ids
from .present import IDLE_TEXT, LOSS_TERMS, gallery, second_share

SIZES = (256, 384, 512, 768, 1024, 1536, 2048)  # the size menu's choices, up to the server's limit

LOSS_COLOURS = {"content": "#2b6cb0", "style": "#c05621", "tv": "#718096", "total": "#1a202c"}
WEIGHT_SLIDERS = ids.WEIGHT_SLIDERS  # log-scale sliders: label, range, default and help come from Settings


def control(label, widget, hint: str | None = None) -> html.Div:
    """One labelled control: the label (for the widget), the widget, and a line of help under it."""
    children = ([html.Label(label, htmlFor=widget.id)] if label is not None else []) + [widget]
    return html.Div(className="control", children=children + ([html.Div(hint, className="hint")] if hint else []))


@dataclasses.dataclass(frozen=True)
class Form:
    """What the form's controls start at: the defaults, or after a reload the shown job's settings."""
    size: int
    iterations: int
    backbone: str = "vgg19"
    optimizer: str = "lbfgs"
    options: tuple = ("multiscale", "draft")
    weights: dict = dataclasses.field(default_factory=dict)  # setting name -> value (the weights in force)
    blend: float = 0.5


def form_of(view, defaults: Form, sizes: list[int], max_iterations: int, offered: list[dict]) -> Form:
    """The job's settings as the form shows them; what it cannot show keeps the default."""
    if view is None:
        return defaults
    s, weights = view.settings, view.weights
    enabled = {o["value"] for o in offered if not o.get("disabled")}
    share = second_share(s)
    options = tuple(name for name, on in (("preserve_color", s.get("preserve_color")),
                                         ("multiscale", s.get("multiscale", True)),
                                         ("draft", s.get("draft_backbone", "none") != "none")) if on)
    iterations = s.get("iterations")
    return Form(
        size=s.get("size") if s.get("size") in sizes else defaults.size,
        iterations=min(max(5, iterations), max_iterations) if isinstance(iterations, int) else defaults.iterations,
        backbone=s.get("backbone") if s.get("backbone") in enabled else defaults.backbone,
        optimizer=s.get("optimizer") if s.get("optimizer") in ("lbfgs", "adam") else defaults.optimizer,
        options=options,
        weights={name: weights.get(name, s.get(name)) for name in WEIGHT_SLIDERS.values()},
        blend=0.5 if share is None else share)


def quality_stops(default: int, maximum: int) -> list[int]:
    """The Quality slider's points in iterations up to ``maximum``: every 5 up to 50, then 10, 25, 100."""
    stops = {*range(5, 51, 5), *range(60, 101, 10), *range(125, 501, 25), *range(600, maximum + 1, 100),
             10, default, 2 * default, maximum}
    return sorted(s for s in stops if 5 <= s <= maximum)


def quality_slider(default: int, maximum: int, value: int) -> list:
    """The Quality slider over :func:`quality_stops` at ``value`` iterations (or the nearest point), with
    draft, default and fine marked."""
    stops = quality_stops(default, maximum)
    position = min(range(len(stops)), key=lambda k: abs(stops[k] - value))
    marks = {stops.index(n): name for n, name in ((10, "draft"), (default, "default"), (2 * default, "fine"))
             if n in stops}
    return [control(["Quality", html.Span(f"{stops[position]} iterations", id=ids.readout(ids.ITERATIONS),
                                          className="value")],
                    dcc.Slider(id=ids.ITERATIONS, min=0, max=len(stops) - 1, step=1, value=position, marks=marks,
                               allow_direct_input=False),
                    "iterations at the final size; each smaller size before it runs a multiple of these"),
            dcc.Store(id=ids.QUALITY_STOPS, data=stops)]


def weight_slider(slider_id: str, value: float | None = None) -> html.Div:
    """A live weight's log10 slider at ``value`` (default: the setting's), its read-out the weight."""
    field = Settings.__dataclass_fields__[WEIGHT_SLIDERS[slider_id]]
    label, help_text, default = field.metadata["label"], field.metadata["help"], field.default
    lo, hi = field.metadata["slider"]
    if isinstance(value, (int, float)) and value > 0:
        default = min(max(value, 10.0 ** lo), 10.0 ** hi)
    marks = {e: {"label": f"{10.0 ** e:,g}"} for e in range(lo, hi + 1)}  # powers of ten: 0.01 … 1,000
    return control([label, html.Span(id=ids.readout(slider_id), className="value")],
                   dcc.Slider(id=slider_id, min=lo, max=hi, step=0.05, value=math.log10(default), marks=marks,
                              updatemode="mouseup", allow_direct_input=False,
                              tooltip={"placement": "top", "transform": "tenToThe"}), help_text)


def upload(base: str, title: str, hint: str) -> html.Div:
    return html.Div(className="upload-block", children=[
        html.Div(title, className="block-title"),
        dcc.Upload(
            # no `accept` filter: a refused file must reach the server and get its message, not vanish
            id=ids.upload(base), className="dropzone", className_active="dropzone active", multiple=False,
            children=html.Div([
                html.Img(id=ids.preview(base), className="thumb", alt=""),
                html.Div([html.Strong("Drop an image"), html.Span(" or click to choose"), html.Br(),
                          html.Small(hint)], className="dropzone-text"),
            ]),
        ),
        html.Div(id=ids.message(base), className="upload-message", role="status"),
    ])


def examples_row() -> html.Div:
    buttons = [
        html.Button([html.Img(src=f"/examples/{name}.jpg", alt=title), html.Span(title)],
                    id={"type": ids.EXAMPLE.format(kind=kind), "name": name}, className=f"example example-{kind}",
                    title=f"use as {'photo' if kind == 'content' else 'painting'}")
        for name, (kind, title, _) in EXAMPLES.items()
    ]
    return html.Div(className="examples", children=[html.Div("No files at hand? Try an example:",
                                                             className="hint"), html.Div(buttons, className="row")])


def empty_figure() -> go.Figure:
    fig = go.Figure()
    for term in LOSS_TERMS:
        # markers too: a line needs two points, and the first poll of a run often brings one
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name=term, marker={"size": 3},
                                 line={"color": LOSS_COLOURS[term], "width": 2 if term == "total" else 1.5}))
    fig.update_layout(
        margin={"l": 50, "r": 10, "t": 30, "b": 40}, height=320, template="plotly_white",
        # the axis spans at least iterations 0-10, so its ticks are whole iterations from the first one
        # (plotly has no integer-only tick mode; on a range of 3 it ticks 1.5, 2.5)
        xaxis={"title": "iteration", "autorangeoptions": {"include": [0, 10]}},
        yaxis={"title": "loss (log)", "type": "log"},
        # above the axes, growing upwards: on a phone it takes two rows, which must not cover the top curve
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}, shapes=[], annotations=[],
        uirevision="keep",
    )
    return fig


def missing_weights() -> dict:
    """Each built-in backbone's :class:`MissingWeights` here now, or None."""
    return {name: spec.missing_weights() for name, spec in BACKBONES.items()}


def backbone_options(models_dir: str | None, missing: dict | None = None) -> list[dict]:
    """The built-in backbones (greyed out without weights here), then the checkpoints in ``models_dir``."""
    missing = missing_weights() if missing is None else missing
    options = []
    for name, spec in BACKBONES.items():
        label = f"{name} — {spec.tag}" if spec.tag else name
        options.append({"label": f"{name} — not on this server" if missing[name] else label, "value": name,
                        "title": spec.description, "disabled": bool(missing[name])})
    return options + [{"label": f"{os.path.basename(p)} (yours)", "value": p, "title": "your own checkpoint"}
                      for p in list_checkpoints(models_dir)]


def backbone_note(missing: dict) -> list:
    """Under the menu: which networks are greyed out and where their weights come from (no server path)."""
    missing = [(name, m) for name, m in missing.items() if m]
    if not missing:
        return []
    return [html.Details(id=ids.BACKBONE_NOTE, className="backbone-note hint", children=[
        html.Summary(f"{len(missing)} backbones greyed out: their weights are not installed on this server"),
        html.Ul([html.Li(f"{name}: {m.source}") for name, m in missing]),
        html.Div("Whoever runs this server can add them: see the documentation, docs/backbones.md."),
    ])]



def offered_sizes(limits: Limits) -> tuple[list[int], list[int]]:
    """The size menu's choices, up to the server's limit, and "Make a print"'s above them."""
    highest = Settings.__dataclass_fields__["size"].metadata["high"]
    sizes = [s for s in SIZES if s <= min(limits.max_size, highest)] or [limits.max_size]
    return sizes, print_sizes(sizes[-1], limits)

def build_layout(size_options: list[int], default_size: int, default_iterations: int, max_iterations: int,
                 models_dir: str | None = None, current_job: str | None = None, max_upload_bytes: int = 20 * 2**20,
                 jobs: list | None = None, notice: str | None = None, print_sizes: list[int] | None = None):
    """The page, with ``current_job`` shown again, ``notice`` above all and ``print_sizes`` offered."""
    missing = missing_weights()
    offered = backbone_options(models_dir, missing)
    shown = next((v for v in jobs or [] if v.id == current_job), None)
    form = form_of(shown, Form(default_size, default_iterations), size_options, max_iterations, offered)
    return html.Div(className="studio", children=[
        html.Div(notice or "", id=ids.NOTICE, className="upload-message error", role="alert", hidden=not notice),
        html.Header([html.A("One-shot version: /quick →", href="/quick/", className="hint header-link"),
                     html.H1("Style Transfer Studio"),
                     html.P("Watch a photo turn into a painting: gradient descent on its pixels through a pretrained "
                            "network (Gatys et al.). Steer the weights while it runs.")]),
        html.Main([controls(size_options, default_size, default_iterations, max_iterations, models_dir, form,
                            missing, offered),
                   stage(jobs or [], current_job, print_sizes or [])]),
        dcc.Store(id=ids.JOB_ID, data=current_job),
        dcc.Store(id=ids.CHART_STATE),
        dcc.Interval(id=ids.POLL, interval=400, disabled=current_job is None),
        # read by assets/studio.js: a file over the limit gets its message before it is read or sent
        html.Div(id=ids.LIMITS, hidden=True, **{"data-max-upload": str(max_upload_bytes)}),
        # a page opened on a job still at work scrolls to it (assets/studio.js): on a phone it is a screen down
        html.Span(id=ids.SCROLL_ANCHOR, hidden=True,
                  **{"data-active": "1" if shown is not None and not shown.is_finished else "0"}),
    ])


def controls(size_options: list[int], default_size: int, default_iterations: int, max_iterations: int,
             models_dir: str | None, form: Form | None = None, missing: dict | None = None,
             offered: list[dict] | None = None) -> html.Section:
    """The left panel (uploads, examples, weights, size, backbone, quality, options, Start) at ``form``."""
    missing = missing_weights() if missing is None else missing
    offered = backbone_options(models_dir, missing) if offered is None else offered
    form = form or Form(default_size, default_iterations)
    return html.Section(className="panel controls", children=[
        upload("content", "1 · Photo", "JPEG, PNG, WebP, TIFF…"),
        upload("style", "2 · Painting", "the style to paint with"),
        html.Details(className="more", children=[
            html.Summary("Blend a second painting"),
            upload("style2", "Second painting (optional)", "its style is mixed in"),
            control(["Blend", html.Span("50%", id=ids.readout(ids.STYLE_BLEND), className="value")],
                    dcc.Slider(id=ids.STYLE_BLEND, min=0, max=1, step=0.05, value=form.blend, allow_direct_input=False,
                               marks={0: "first", 0.5: "half", 1: "second"})),
        ]),
        examples_row(),
        html.Div("3 · Weights (change them while it runs)", className="block-title"),
        *[weight_slider(s, form.weights.get(name)) for s, name in WEIGHT_SLIDERS.items()],
        html.Div(className="grid2", children=[
            control("Size (long side)", dcc.Dropdown(
                id=ids.SIZE, options=[{"label": f"{s} px", "value": s} for s in size_options], value=form.size,
                clearable=False, searchable=False)),
            control("Backbone", dcc.Dropdown(id=ids.BACKBONE, options=offered, value=form.backbone,
                                             clearable=False, searchable=False), "the network that sees the images"),
        ]),
        *backbone_note(missing),
        *quality_slider(default_iterations, max_iterations, form.iterations),
        html.Div(className="grid2", children=[
            control("Optimiser", dcc.RadioItems(id=ids.OPTIMIZER, options=[{"label": " L-BFGS", "value": "lbfgs"},
                                                                         {"label": " Adam", "value": "adam"}],
                                                value=form.optimizer, inline=True),
                    "how each step is chosen: L-BFGS gets there in fewer steps; Adam is steadier with very large "
                    "weights"),
            control(None, dcc.Checklist(id=ids.OPTIONS, value=list(form.options), options=[
                {"label": " keep the photo's colours", "value": "preserve_color"},
                {"label": " coarse-to-fine", "value": "multiscale"},
                {"label": " fast draft", "value": "draft"}]),
                    "coarse-to-fine: paint small first, then at twice the size, up to the full size — big strokes "
                    "first, and faster; fast draft: on a CPU EfficientNet-Lite0 paints the smaller sizes, VGG19 the "
                    "full one — two thirds of the time, finer strokes"),
        ]),
        html.Div(className="buttons", children=[html.Button("Start", id=ids.START, className="primary")]),
        html.Div(id=ids.ESTIMATE, className="hint", role="status"),
        # the estimate is asked again for a minute: the first measurement of this machine may still be running
        dcc.Interval(id=ids.ESTIMATE_REFRESH, interval=3000, max_intervals=20),
        html.Div(id=ids.START_MESSAGE, className="upload-message error", role="alert"),
    ])


def stage(jobs: list, current_job: str | None, print_sizes: list[int] = ()) -> html.Section:
    """The right panel: status, Stop and progress (kept in view), preview, loss chart, downloads, gallery."""
    return html.Section(className="panel stage", children=[
        html.Div(className="stage-head", children=[
            html.Div(className="status-line", children=[
                html.Span("idle", id=ids.STATUS, className="status status-idle"),
                html.Span(id=ids.LIVE_NOTE, className="hint"),
                html.Button("Stop", id=ids.STOP, disabled=True, title="stop the job shown: its current image is kept"),
            ]),
            html.Div(id=ids.PROGRESS, className="progress", children=[
                html.Div(className="bar", style={"width": "0%"}), html.Div(IDLE_TEXT, className="progress-text")]),
        ]),
        html.Div(className="stage-grid", children=[
            html.Div(className="preview-frame", children=[
                html.Img(id=ids.BEFORE_IMAGE, className="before", alt=""),
                html.Img(id=ids.PREVIEW_IMAGE, className="after", alt="the image being painted"),
            ]),
            html.Div(className="side", children=[
                dcc.Graph(id=ids.LOSS_GRAPH, figure=empty_figure(),
                          config={"displayModeBar": False, "responsive": True}),
                html.Div(className="control compare", children=[
                    html.Label("Compare with the photo", htmlFor=ids.COMPARE),  # its end marks: studio.css
                    dcc.Slider(id=ids.COMPARE, min=0, max=100, step=1, value=100, allow_direct_input=False,
                               marks={0: "photo", 100: "painting"}, updatemode="drag"),
                ]),
                html.Div(className="downloads", children=[
                    html.A("Download PNG", id=ids.DOWNLOAD_RESULT, className="button disabled", href=None,
                           download=""),
                    html.A("Time-lapse (MP4)", id=ids.DOWNLOAD_TIMELAPSE, className="button disabled", href=None,
                           download=""),
                    html.A("GIF", id=ids.DOWNLOAD_TIMELAPSE_GIF, className="button disabled", href=None, download="",
                           title="the time-lapse as an animated GIF: a 512-px preview that plays anywhere"),
                ]),
                html.Div(className="downloads", children=[
                    html.Button("Run again", id=ids.RUN_AGAIN, disabled=True,
                                title="the same images, settings and seed: a new job"),
                    html.Button("Continue", id=ids.CONTINUE, disabled=True,
                                title="more iterations at full size, from this result (the Quality slider's number)"),
                ]),
                html.Div(className="downloads print", hidden=not print_sizes, children=[
                    dcc.Dropdown(id=ids.PRINT_SIZE, options=[{"label": f"{s} px", "value": s} for s in print_sizes],
                                 value=print_sizes[0] if print_sizes else None, clearable=False, searchable=False,
                                 className="print-size"),
                    html.Button("Make a print", id=ids.PRINT, disabled=True,
                                title="this result enlarged to the chosen size and painted again there, in tiles "
                                      "where memory is short: a new job"),
                ]),
            ]),
        ]),
        html.Div("Your jobs", className="block-title"),
        html.Div(gallery(jobs, current_job), id=ids.GALLERY, className="gallery"),
    ])
