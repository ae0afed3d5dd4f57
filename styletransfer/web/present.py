"""The page's pieces as plain functions of a job's view, shared by the studio, /quick and the API."""
from __future__ import annotations

import os

from dash import Patch, html

from ..jobs import DONE, FAILED, QUEUED, RUNNING, JobView
from . import ids

LOSS_TERMS = ("content", "style", "tv", "total")
EVENT_COLOUR = "#805ad5"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def print_menu(options: list[tuple[int, float | None]]) -> list[dict]:
    """"Make a print"'s sizes with what each costs here ("2048 px · about 12:30")."""
    return [{"label": f"{size} px" + ("" if seconds is None else f" · about {fmt_seconds(seconds)}"), "value": size}
            for size, seconds in options]


def progress_text(view: JobView) -> tuple[float, str]:
    """(percent done, the line under the bar)."""
    total = view.total_iterations or 0
    pct = 100.0 * view.iteration / total if total else 0.0
    if view.status == QUEUED:
        ahead = view.queue_position - 1
        return pct, "Queued: starting next" if ahead <= 0 else f"Queued: {ahead} job{'s' * (ahead != 1)} ahead of yours"
    if view.status == RUNNING and total:
        w, h = view.size or (0, 0)
        return pct, (f"Iteration {view.iteration} / {total} · scale {view.scale}/{view.scales} ({w}×{h}) · "
                     f"ETA {fmt_seconds(view.eta)}")
    if view.status == RUNNING:
        return pct, "Starting…"
    if view.status == FAILED:
        return pct, f"Failed: {view.error}"
    return (100.0 if view.status == DONE else pct,
            f"{view.status.capitalize()} after {view.iteration} iterations in {fmt_seconds(view.elapsed)}")


IDLE_TEXT = "Add a photo and a painting, then Start."


def progress_children(view: JobView | None) -> list:
    """The progress bar and its line (idle without a job)."""
    if view is None:
        return [html.Div(className="bar", style={"width": "0%"}), html.Div(IDLE_TEXT, className="progress-text")]
    pct, text = progress_text(view)
    return [html.Div(className=f"bar bar-{view.status}", style={"width": f"{pct:.1f}%"}),
            html.Div(text, className="progress-text")]


def status_label(view: JobView | None) -> tuple[str, str]:
    """(the status word, its class) for the status badge."""
    if view is None:
        return "job not found", "status status-failed"
    return (view.status if view.status != FAILED else f"failed: {view.error}"), f"status status-{view.status}"


def frame_url(view: JobView) -> str | None:
    """The job's latest preview (the frame number in the URL defeats caching)."""
    return f"/frames/{view.id}/latest.jpg?seq={view.frame_seq}" if view.frame_seq else None


def job_urls(view: JobView) -> dict:
    """Where a job's pieces are (None: not yet), for the page, /quick and the API."""
    base = f"/api/jobs/{view.id}"
    return {
        "self": base, "cancel": f"{base}/cancel", "weights": f"{base}/weights",
        "frame": f"/frames/{view.id}/latest.jpg" if view.frame_seq else None,
        "result": f"/download/{view.id}/result.png" if view.has_result else None,
        "timelapse": f"/download/{view.id}/timelapse.mp4" if view.frames else None,
        "timelapse_gif": f"/download/{view.id}/timelapse.gif" if view.frames else None,
    }


def download_links(view: JobView | None) -> dict:
    """href and class of the three download buttons (disabled while there is nothing to download)."""
    urls = job_urls(view) if view is not None else {}
    out = {}
    for key, url, cls in (("result", urls.get("result"), "button"), ("timelapse", urls.get("timelapse"), "button"),
                          ("timelapse_gif", urls.get("timelapse_gif"), "button secondary")):
        out[key] = (url, cls if url else f"{cls} disabled")
    return out


def queue_note(view: JobView, busy: list[JobView]) -> str:
    """What Start says about the queue: behind the session's own running job, or behind others'."""
    if busy:
        ahead = (f" ({view.queue_position - 1} other job(s) ahead)" if view.queue_position > 1 else "")
        return (f"Queued behind your {busy[-1].status} job: it starts when that one ends{ahead}; "
                "it waits in Your jobs.")
    return "" if view.queue_position <= 1 else f"Queued behind {view.queue_position - 1} job(s)."


def estimate_text(seconds: float | None, points: list[tuple[str, float]] = (), button: str = "Start") -> str:
    """How long a run would take here, and what each marked Quality point (``points``) costs; ``button``
    names what starts it."""
    if seconds is None:
        return f"The first run here measures this machine's speed; then {button} says how long it takes."
    costs = " · ".join(f"{name} {fmt_seconds(t)}" for name, t in points)
    return (f"About {fmt_seconds(seconds)} on this machine at this size and quality (without a queue)"
            + (f"; {costs}." if costs else "."))


def new_chart(job_id: str) -> dict:
    """The loss chart's state for a job drawn from its start: the poll fills it from iteration 0."""
    return {"job": job_id, "iteration": 0, "events": 0}


def chart_patch(chart: dict, history: list[dict], events: list[dict]) -> tuple[Patch | None, dict]:
    """The loss points and weight-change lines ``chart`` lacks from ``history``; (None, chart) when none."""
    if not history and len(events) <= chart["events"]:
        return None, chart
    figure = Patch()
    xs = [h["iteration"] for h in history]
    for i, term in enumerate(LOSS_TERMS):
        figure["data"][i]["x"].extend(xs)
        # a log axis cannot show 0 (the content loss before the first step from the photo)
        figure["data"][i]["y"].extend([h[term] if h[term] > 0 else None for h in history])
    for event in events[chart["events"]:]:
        figure["layout"]["shapes"].append({
            "type": "line", "xref": "x", "yref": "paper", "x0": event["iteration"], "x1": event["iteration"],
            "y0": 0, "y1": 1, "line": {"dash": "dot", "color": EVENT_COLOUR}})
        figure["layout"]["annotations"].append({
            "x": event["iteration"], "y": 1, "xref": "x", "yref": "paper", "showarrow": False,
            "text": "weights changed", "font": {"size": 10, "color": EVENT_COLOUR}, "yanchor": "bottom"})
    return figure, {**chart, "iteration": xs[-1] if xs else chart["iteration"], "events": len(events)}


def rerun_disabled(view: JobView | None) -> tuple[bool, bool]:
    """(Run again disabled, Continue disabled): both need a finished job; Continue a result to go on from."""
    finished = view is not None and view.is_finished
    return not finished, not (finished and view.status != FAILED)


def second_share(settings: dict) -> float | None:
    """The second painting's share of a two-painting blend (the page's Blend slider), None without one."""
    blend = settings.get("style_blend")
    if isinstance(blend, (list, tuple)) and len(blend) == 2 and sum(blend):
        return blend[1] / sum(blend)
    return None


def card_caption(view: JobView) -> str:
    """A job card's settings line: size, style weight in force, networks, blend, colours, Continue."""
    s = view.settings
    style = view.weights.get("style_weight", s.get("style_weight"))
    parts = [f"{s['size']} px", f"style {style:g}" if isinstance(style, (int, float)) else "style ?",
             os.path.basename(str(s["backbone"]))]
    if s.get("draft_backbone") not in (None, "none"):
        parts.append(f"{str(s['draft_backbone']).replace('efficientnet-', '')} draft")
    share = second_share(s)
    if share is not None:
        parts.append(f"blend {100 * share:.0f}%")
    if s.get("preserve_color"):
        parts.append("photo's colours")
    if s.get("multiscale") is False and not (view.note or "").startswith("continues"):
        parts.append("one scale")
    if (view.note or "").startswith("continues job"):
        parts.append(view.note.split(" from ")[0])  # "continues job 1a2b3c4d"
    return " · ".join(parts)


def gallery(views: list[JobView], current: str | None) -> list:
    """The session's jobs, newest first, each a card to reopen (or cancel, when queued)."""
    if not views:
        return [html.Div("Your jobs appear here.", className="hint")]
    items = []
    for v in reversed(views):
        url = frame_url(v)
        thumb = (html.Img(src=url, alt="", className="gallery-thumb") if url
                 else html.Div(className="gallery-thumb empty"))
        caption = card_caption(v)
        item = [html.Button([thumb, html.Span(v.status, className=f"status status-{v.status}"),
                             html.Span(caption, className="gallery-caption")],
                            id={"type": ids.GALLERY_OPEN, "job": v.id}, title="show this job",
                            className="gallery-open" + (" current" if v.id == current else ""))]
        if v.status == QUEUED:
            item.append(html.Button("Cancel", id={"type": ids.GALLERY_CANCEL, "job": v.id},
                                    className="gallery-cancel", title="take it out of the queue"))
        items.append(html.Div(item, className="gallery-item"))
    return items
