"""The page's pieces as plain functions of a job's view: what each says, with no browser."""
from dash import html

from styletransfer.jobs import JobView, Status
from styletransfer.web import present


def view(**fields) -> JobView:
    base = dict(id="job-1", status="running", settings={"size": 512, "style_weight": 10.0, "backbone": "vgg19"},
                weights={}, created=0.0)
    return JobView(**{**base, **fields})


def test_seconds_read_as_minutes_and_seconds():
    assert present.fmt_seconds(None) == "–"
    assert present.fmt_seconds(0) == "0:00" and present.fmt_seconds(61.4) == "1:01" and present.fmt_seconds(600) == "10:00"
    assert present.fmt_seconds(3600) == "1:00:00" and present.fmt_seconds(2 * 3600 + 61) == "2:01:01"


def test_the_print_menu_says_what_each_size_costs_here():
    assert present.print_menu([(2048, 1962.4), (2896, 2 * 3600 + 5), (4096, None)]) == [
        {"label": "2048 px · about 32:42", "value": 2048}, {"label": "2896 px · about 2:00:05", "value": 2896},
        {"label": "4096 px", "value": 4096}]


def test_the_progress_line_says_where_the_job_is():
    assert present.progress_text(view(status="queued", queue_position=1)) == (0.0, "Queued: starting next")
    assert present.progress_text(view(status="queued", queue_position=3))[1] == "Queued: 2 jobs ahead of yours"
    assert present.progress_text(view(status="queued", queue_position=2))[1] == "Queued: 1 job ahead of yours"
    assert present.progress_text(view(status="running"))[1] == "Starting…"
    pct, text = present.progress_text(view(iteration=30, total_iterations=120, scale=2, scales=3, size=[256, 192],
                                           eta=75))
    assert pct == 25.0 and text == "Iteration 30 / 120 · scale 2/3 (256×192) · ETA 1:15"
    assert present.progress_text(view(status="failed", error="out of memory"))[1] == "Failed: out of memory"
    assert present.progress_text(view(status="done", iteration=120, total_iterations=120, elapsed=62)) == (
        100.0, "Done after 120 iterations in 1:02")
    assert present.progress_text(view(status="stopped", iteration=30, total_iterations=120, elapsed=5)) == (
        25.0, "Stopped after 30 iterations in 0:05")


def test_the_progress_bar_takes_the_status_and_the_share_done():
    bar, line = present.progress_children(view(iteration=60, total_iterations=120))
    assert bar.className == "bar bar-running" and bar.style == {"width": "50.0%"}
    assert isinstance(line, html.Div) and line.children.startswith("Iteration 60 / 120")
    assert present.progress_children(None)[1].children == present.IDLE_TEXT


def test_the_status_badge():
    assert present.status_label(view(status="done")) == ("done", "status status-done")
    assert present.status_label(view(status="failed", error="x")) == ("failed: x", "status status-failed")
    assert present.status_label(None) == ("job not found", "status status-failed")


def test_one_rule_for_where_a_job_s_pieces_are():
    nothing = present.job_urls(view())
    assert nothing["self"] == "/api/jobs/job-1" and nothing["weights"] == "/api/jobs/job-1/weights"
    assert nothing["frame"] is nothing["result"] is nothing["timelapse"] is nothing["timelapse_gif"] is None
    urls = present.job_urls(view(frame_seq=4, has_result=True, frames=3))
    assert urls["frame"] == "/frames/job-1/latest.jpg" and urls["result"] == "/download/job-1/result.png"
    assert urls["timelapse"].endswith("timelapse.mp4") and urls["timelapse_gif"].endswith("timelapse.gif")
    assert present.frame_url(view(frame_seq=4)) == "/frames/job-1/latest.jpg?seq=4"  # a new URL per frame
    assert present.frame_url(view()) is None


def test_download_buttons_are_disabled_until_there_is_something_to_download():
    links = present.download_links(view())
    assert links == {"result": (None, "button disabled"), "timelapse": (None, "button disabled"),
                     "timelapse_gif": (None, "button secondary disabled")}
    links = present.download_links(view(frame_seq=1, has_result=True, frames=1))
    assert links["result"] == ("/download/job-1/result.png", "button")
    assert links["timelapse_gif"][1] == "button secondary"
    assert present.download_links(None) == present.download_links(view())


def test_the_queue_note():
    assert present.queue_note(view(status="queued", queue_position=1), []) == ""
    assert present.queue_note(view(status="queued", queue_position=3), []) == "Queued behind 2 job(s)."
    mine = view(status="running")
    assert present.queue_note(view(status="queued", queue_position=1), [mine]) == (
        "Queued behind your running job: it starts when that one ends; it waits in Your jobs.")
    assert present.queue_note(view(status="queued", queue_position=3), [mine]).endswith(
        "(2 other job(s) ahead); it waits in Your jobs.")


def test_the_estimate_line():
    assert present.estimate_text(None).startswith("The first run here measures")
    assert present.estimate_text(95) == "About 1:35 on this machine at this size and quality (without a queue)."
    assert present.estimate_text(95, [("draft", 40), ("default", 95), ("fine", 181)]) == (
        "About 1:35 on this machine at this size and quality (without a queue); draft 0:40 · default 1:35 · fine 3:01.")


def test_the_chart_gets_only_what_it_lacks():
    chart = present.new_chart("job-1")
    assert present.chart_patch(chart, [], []) == (None, chart)
    history = [{"iteration": i, "content": 0.0 if i == 1 else 0.5, "style": 1.0, "tv": 0.1, "total": 2.0}
               for i in (1, 2)]
    patch, after = present.chart_patch(chart, history, [{"iteration": 2, "weights": {}}])
    assert after == {"job": "job-1", "iteration": 2, "events": 1}
    operations = patch.to_plotly_json()["operations"]
    extended = [op for op in operations if op["operation"] == "Extend"]
    assert {"location": ["data", 0, "x"], "operation": "Extend", "params": {"value": [1, 2]}} in extended
    # a log axis cannot show 0: the content loss before the first step is left out
    assert {"location": ["data", 0, "y"], "operation": "Extend", "params": {"value": [None, 0.5]}} in extended
    shapes = [op for op in operations if op["location"] == ["layout", "shapes"]]
    assert len(shapes) == 1 and shapes[0]["params"]["value"]["x0"] == 2
    patch, again = present.chart_patch(after, [], [{"iteration": 2, "weights": {}}])
    assert patch is None and again == after  # the event is drawn already


def test_run_again_and_continue_need_a_finished_job():
    def view(status):
        return JobView(id="j", status=status, settings={}, weights={}, created=0.0)

    assert present.rerun_disabled(view(Status.RUNNING)) == (True, True)
    assert present.rerun_disabled(view(Status.DONE)) == (False, False)
    assert present.rerun_disabled(view(Status.STOPPED)) == (False, False)
    assert present.rerun_disabled(view(Status.FAILED)) == (False, True)  # no result to go on from
    assert present.rerun_disabled(None) == (True, True)  # no job on the page


def test_a_job_card_says_what_tells_it_from_the_next():
    assert present.card_caption(view()) == "512 px · style 10 · vgg19"
    steered = view(weights={"style_weight": 100.0}, settings={
        "size": 384, "style_weight": 10.0, "backbone": "efficientnet-lite0", "style_blend": [0.25, 0.75],
        "preserve_color": True, "multiscale": False})
    assert present.card_caption(steered) == (
        "384 px · style 100 · efficientnet-lite0 · blend 75% · photo's colours · one scale")
    continued = view(note="continues job 1a2b3c4d from its result", settings={
        "size": 512, "style_weight": 10.0, "backbone": "vgg19", "multiscale": False})
    assert present.card_caption(continued) == "512 px · style 10 · vgg19 · continues job 1a2b3c4d"
    drafted = view(settings={"size": 512, "style_weight": 10.0, "backbone": "vgg19",
                             "draft_backbone": "efficientnet-lite0"})
    assert present.card_caption(drafted) == "512 px · style 10 · vgg19 · lite0 draft"


def test_the_gallery_lists_newest_first_and_offers_cancel_for_queued_jobs():
    assert present.gallery([], None)[0].children == "Your jobs appear here."
    items = present.gallery([view(id="old", status="done", frame_seq=2), view(id="new", status="queued")], "old")
    newest, oldest = items
    assert newest.children[0].id == {"type": "gallery-open", "job": "new"}
    assert newest.children[1].id == {"type": "gallery-cancel", "job": "new"}
    assert len(oldest.children) == 1 and "current" in oldest.children[0].className
    thumb, _, caption = oldest.children[0].children
    assert thumb.src == "/frames/old/latest.jpg?seq=2" and caption.children == "512 px · style 10 · vgg19"
