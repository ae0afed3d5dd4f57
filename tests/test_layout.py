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
