"""The page's static parts, as the browser receives them."""
from styletransfer.web.layout import empty_figure
from styletransfer.web.present import LOSS_TERMS


def test_the_loss_chart_draws_its_first_point_before_there_is_a_line():
    figure = empty_figure().to_plotly_json()
    assert [trace["name"] for trace in figure["data"]] == list(LOSS_TERMS)
    # a single (x, y) makes no line segment: every trace also draws markers, so iteration 1 is visible
    assert all("markers" in trace["mode"] for trace in figure["data"])
    assert figure["layout"]["yaxis"]["type"] == "log"


def test_the_iteration_axis_spans_ten_iterations_from_the_start_so_its_ticks_are_whole():
    figure = empty_figure().to_plotly_json()
    assert figure["layout"]["xaxis"]["autorangeoptions"]["include"] == [0, 10]


def test_after_a_reload_the_form_shows_the_shown_job_s_own_settings():
    from styletransfer.jobs import JobView
    from styletransfer.web.layout import Form, backbone_options, form_of

    offered, defaults = backbone_options(None), Form(512, 25)
    job = JobView(id="j", status="running", created=0.0, weights={"style_weight": 100.0, "content_weight": 1.0,
                                                                  "tv_weight": 3.0},
                  settings={"size": 384, "iterations": 60, "backbone": "efficientnet-lite0", "optimizer": "adam",
                            "preserve_color": True, "multiscale": False, "style_blend": [1.0, 3.0],
                            "style_weight": 10.0, "content_weight": 1.0, "tv_weight": 3.0})
    form = form_of(job, defaults, [256, 384, 512], 100, offered)
    assert (form.size, form.iterations, form.backbone, form.optimizer, form.options) == (
        384, 60, "efficientnet-lite0", "adam", ("preserve_color",))
    assert form.weights["style_weight"] == 100.0 and form.blend == 0.75  # the weight in force after a live change
    drafted = JobView(id="d", status="done", created=0.0, weights={},
                      settings={"size": 512, "backbone": "vgg19", "draft_backbone": "efficientnet-lite0"})
    assert form_of(drafted, defaults, [512], 100, offered).options == ("multiscale", "draft")
    # what the form cannot show keeps the default: a size not offered, a network greyed out here
    odd = JobView(id="k", status="done", created=0.0, weights={}, settings={"size": 640, "backbone": "vgg16"})
    assert (form_of(odd, defaults, [256, 512], 100, offered).size,
            form_of(odd, defaults, [256, 512], 100, offered).backbone) == (512, "vgg19")
    assert form_of(None, defaults, [512], 100, offered) == defaults


def test_the_quality_slider_spreads_draft_default_and_fine_over_its_length():
    from styletransfer.web.layout import quality_slider, quality_stops

    stops = quality_stops(25, 100)
    assert stops[0] == 5 and stops[-1] == 100 and {10, 25, 50} <= set(stops) and stops == sorted(set(stops))
    slider = quality_slider(25, 100, 60)[0].children[1]
    assert stops[slider.value] == 60 and slider.max == len(stops) - 1
    positions = {name: position / slider.max for position, name in slider.marks.items()}
    # on 5…100 iterations they sat at 5 %, 21 % and 47 %: fine is now past the middle
    assert positions["draft"] < 0.1 < positions["default"] < 0.35 < 0.5 < positions["fine"] < 0.8, positions
    assert stops[quality_slider(25, 100, 33)[0].children[1].value] == 35  # a job's own number: the nearest point
    assert quality_stops(300, 1200)[-1] == 1200 and {10, 300, 600} <= set(quality_stops(300, 1200))  # a GPU's
