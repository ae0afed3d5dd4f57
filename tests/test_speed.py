"""jobs/speed.py: the time model — an iteration's seconds by its pixels, measured at the calibration sizes
and drawn straight between them, corrected by every job."""
import pytest

from styletransfer.engine import Settings
from styletransfer.engine.work import Work
from styletransfer.jobs.speed import LEARNING_RATE, SpeedMeter, calibration

# 0.1 s an iteration at 10 kpx, 0.5 s at 100 kpx, 4 s at 500 kpx: the cost per pixel climbs past 100 kpx
CURVE = SpeedMeter([(100_000, 0.5), (10_000, 0.1), (500_000, 4.0)])


def test_no_estimate_before_any_measurement():
    assert SpeedMeter().estimate(Settings(size=512, iterations=35)) is None
    assert SpeedMeter().iteration_cost is None


def test_between_the_calibrated_sizes_the_time_is_the_straight_line_through_them():
    assert CURVE.points[0] == (10_000, 0.1)  # kept in order of size
    assert CURVE.seconds_per_iteration(100_000) == pytest.approx(0.5)
    assert CURVE.seconds_per_iteration(55_000) == pytest.approx(0.3)
    assert CURVE.seconds_per_iteration(300_000) == pytest.approx(2.25)


def test_beyond_them_the_nearest_segment_goes_on():
    assert CURVE.seconds_per_iteration(900_000) == pytest.approx(4.0 + 3.5 * 400_000 / 400_000)
    # below: the fixed part of the first segment stays (0.1 - 0.4/90 kpx × 10 kpx), but never less than
    # in proportion to the pixels
    assert CURVE.seconds_per_iteration(5_000) == pytest.approx(0.1 - 0.4 * 5_000 / 90_000)
    steep = SpeedMeter([(10_000, 0.01), (20_000, 0.1)])  # a negative fixed part, which noise can make
    assert steep.seconds_per_iteration(5_000) == pytest.approx(0.005)
    assert SpeedMeter([(10_000, 0.2)]).seconds_per_iteration(20_000) == pytest.approx(0.4)  # one point: in proportion


def test_a_run_costs_each_size_s_iterations_at_that_size():
    work = Work.at(10_000, 20) + Work.at(100_000, 10) + Work.at(500_000, 2) + Work.at(10_000, 1)
    assert work.iterations == 33 and work.pixels == 21 * 10_000 + 10 * 100_000 + 2 * 500_000
    assert CURVE.predict(work) == pytest.approx(21 * 0.1 + 10 * 0.5 + 2 * 4.0)


def test_a_job_corrects_the_model_by_what_it_did():
    meter = SpeedMeter([(10_000, 0.1), (100_000, 0.5)])
    meter.observe(2 * (10 * 0.5), Work.at(100_000, 10))  # twice as slow as predicted
    assert meter.seconds_per_iteration(10_000) == pytest.approx(0.1 * (1 + LEARNING_RATE))
    assert meter.seconds_per_iteration(100_000) == pytest.approx(0.5 * (1 + LEARNING_RATE))
    learnt = SpeedMeter().observe(20.0, Work.at(100_000, 10))  # no calibration: the first job sets the rate
    assert learnt.known and learnt.predict(Work.at(100_000, 10)) == pytest.approx(20.0)


def test_the_model_travels_as_json_and_an_older_release_s_reads_as_unknown():
    again = SpeedMeter.from_json(CURVE.to_json())
    assert again.points == CURVE.points
    assert not SpeedMeter.from_json(b'{"per_iteration": 0.0, "per_pixel": 3e-06}').known
    assert not SpeedMeter.from_json(b"1.5e-05").known and not SpeedMeter.from_json(None).known


def test_the_calibration_yields_a_better_model_at_each_size_and_ends_when_told():
    models = list(calibration("cpu", max_side=512))  # a server whose results are at most 512 px
    # 256 and 512 px first (the first model), then 128 px, then 256 and 512 px again (the faster pass kept)
    assert [len(m.points) for m in models] == [2, 3, 3, 3]
    assert all(new <= old for (_, new), (_, old) in zip(models[-1].points[1:], models[1].points[1:]))
    (p0, s0), (p1, s1), (p2, s2) = models[-1].points  # 128, 256 and 512 px of the same photo
    assert p1 == pytest.approx(4 * p0, rel=0.03) and p2 == pytest.approx(4 * p1, rel=0.02) and 0 < s0 < s1 < s2
    assert list(calibration("cpu", stop=lambda: True)) == []


def test_the_model_knows_what_the_device_s_memory_can_paint_and_counts_tiles_in_the_estimate():
    from styletransfer.engine.memory import GB, DeviceMemory, NetMemory

    # VGG19's measures on a CPU (bf16) in a 3 GB budget: 1024 px whole, 2048 px in tiles, 8192 px not at all
    memory = DeviceMemory(budget=3 * GB, held=0.8 * GB, net=NetMemory(26e6, 886.0, 16.0), align=16, margin=80)
    assert memory.work_factor(768, 1024) == 1.0
    tiled = memory.work_factor(1536, 2048)
    assert 4 / 3 < tiled < 3  # two forwards and a backward, over the margins too
    assert memory.work_factor(6144, 8192) is None
    meter = SpeedMeter(CURVE.points, memory)
    assert meter.can_paint(1536, 2048) and not meter.can_paint(6144, 8192)
    assert SpeedMeter(CURVE.points).can_paint(6144, 8192)  # not known: not refused
    settings = Settings(size=2048, iterations=10, multiscale=False, seed=0, coarse_factor=0, draft_backbone="none")
    whole = SpeedMeter(CURVE.points).estimate(settings, (2048, 1536), [(512, 512)])
    assert meter.estimate(settings, (2048, 1536), [(512, 512)]) > 1.3 * whole
    again = SpeedMeter.from_json(meter.to_json())
    assert again.memory == memory and again.points == meter.points
    assert SpeedMeter.from_json('{"points": [[10000, 0.1]]}').memory is None  # a model from before: memory unknown
