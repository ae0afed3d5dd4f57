"""What the browser computes itself (assets/studio.js): slider read-outs, the compare slider, scrolling."""
from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State

from .. import ids


def _js(name: str) -> ClientsideFunction:
    return ClientsideFunction(namespace="studio", function_name=name)


def register(app, wiring) -> None:
    for slider in ids.WEIGHT_SLIDERS:
        app.clientside_callback(_js("weightReadout"), Output(ids.readout(slider), "children"), Input(slider, "value"))
    app.clientside_callback(_js("iterationsReadout"), Output(ids.readout(ids.ITERATIONS), "children"),
                            Input(ids.ITERATIONS, "value"), State(ids.QUALITY_STOPS, "data"))
    app.clientside_callback(_js("blendReadout"), Output(ids.readout(ids.STYLE_BLEND), "children"),
                            Input(ids.STYLE_BLEND, "value"))
    app.clientside_callback(_js("compareClip"), Output(ids.PREVIEW_IMAGE, "style"), Input(ids.COMPARE, "value"))
    # After Start the status, progress and preview come into view (Start sits low in the controls; on a
    # phone the preview is a screen further down); on the page's load, a job still at work does.
    app.clientside_callback(_js("scrollToStage"), Output(ids.SCROLL_ANCHOR, "title"), Input(ids.JOB_ID, "data"))
