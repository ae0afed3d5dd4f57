"""jobs/speed.py: the time model — a line through two calibration sizes, corrected by every job."""
import pytest

from styletransfer.engine import Settings
from styletransfer.engine.work import Work
from styletransfer.jobs.speed import LEARNING_RATE, SpeedMeter


def test_no_estimate_before_any_measurement():
    assert SpeedMeter().estimate(Settings(size=512, iterations=35)) is None


def test_calibration_fits_the_fixed_and_the_per_pixel_part():
    # 0.1 s an iteration + 1e-6 s a pixel-iteration, sampled at two sizes
    samples = [(3 * (0.1 + 1e-6 * 10_000), Work(3, 3 * 10_000)), (3 * (0.1 + 1e-6 * 90_000), Work(3, 3 * 90_000))]
    meter = SpeedMeter().calibrate(samples)
    assert meter.per_iteration == pytest.approx(0.1) and meter.per_pixel == pytest.approx(1e-6)
    assert meter.predict(Work(10, 10 * 250_000)) == pytest.approx(10 * (0.1 + 0.25))


def test_a_negative_fixed_part_from_noise_is_taken_as_none():
    samples = [(1.0, Work(1, 100_000)), (2.4, Work(1, 200_000))]  # the line would cross at -0.4 s
    meter = SpeedMeter().calibrate(samples)
    assert meter.per_iteration == 0 and meter.per_pixel == pytest.approx(3.4 / 300_000)


def test_a_job_corrects_the_model_by_what_it_did():
    meter = SpeedMeter(0.0, 1e-6)
    meter.observe(20.0, Work(10, 1e7))  # twice as slow as predicted
    assert meter.per_pixel == pytest.approx(1e-6 * (1 + LEARNING_RATE))
    learnt = SpeedMeter().observe(20.0, Work(10, 1e7))  # no calibration: the first job sets the rate
    assert learnt.known and learnt.predict(Work(10, 1e7)) == pytest.approx(20.0)


def test_the_model_travels_as_json_and_an_old_number_reads_as_unknown():
    meter = SpeedMeter(0.05, 2e-6)
    again = SpeedMeter.from_json(meter.to_json())
    assert (again.per_iteration, again.per_pixel) == (0.05, 2e-6)
    assert not SpeedMeter.from_json(b"1.5e-05").known and not SpeedMeter.from_json(None).known
