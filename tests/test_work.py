"""engine/work.py: how much work a run is, counted over the scales it really runs, size by size."""
import pytest

from styletransfer.engine import Settings, StyleTransfer
from styletransfer.engine.work import FORWARD_SHARE, work_of


def test_the_work_is_every_scale_s_iterations_and_pixels_and_each_image_s_targets():
    # 400×300 at 256 px: scales 128 (128×96) and 256 (256×192); a square painting at each scale's side
    settings = Settings(size=256, iterations=10, coarse_factor=0, min_size=128, draft_backbone="none")  # 20 at 128
    work = work_of(settings, (400, 300), [(50, 50)])
    iterations = 20 + 10
    pixels = 20 * 128 * 96 + 10 * 256 * 192
    target_iterations = 2 * FORWARD_SHARE * 2
    target_pixels = FORWARD_SHARE * (128 * 96 + 128 * 128 + 256 * 192 + 256 * 256)
    assert work.iterations == pytest.approx(iterations + target_iterations)
    assert work.pixels == pytest.approx(pixels + target_pixels)
    # counted by size, since an iteration's cost per pixel depends on it
    assert dict(work.by_pixels) == pytest.approx({128 * 96: 20 + FORWARD_SHARE, 128 * 128: FORWARD_SHARE,
                                                  256 * 192: 10 + FORWARD_SHARE, 256 * 256: FORWARD_SHARE})


def test_a_strip_a_single_scale_and_fewer_paintings_are_less_work():
    settings = Settings(size=512, iterations=20, coarse_factor=2.25, draft_backbone="none")
    full = work_of(settings, (4, 3), [(4, 3)])
    assert work_of(settings, (400, 100), [(4, 3)]).pixels < full.pixels
    one_scale = Settings(size=512, iterations=20, coarse_factor=2.25, multiscale=False, draft_backbone="none")
    assert work_of(one_scale, (4, 3), [(4, 3)]).pixels < full.pixels
    assert work_of(settings, (4, 3), [(4, 3), (4, 3)]).pixels > full.pixels


def test_open_settings_are_refused_the_iterations_depend_on_the_device():
    with pytest.raises(ValueError, match="resolved"):
        work_of(Settings(size=256), (4, 3))


def test_a_run_does_the_work_it_was_counted_as(content_image, style_image):
    settings = Settings(size=96, iterations=3, min_size=48, seed=0, frame_every=10**9)
    run = StyleTransfer(settings)
    for _ in run.run(content_image, [style_image]):
        pass
    expected = work_of(run.settings, content_image.size, [style_image.size])
    assert run.work_done.iterations == pytest.approx(expected.iterations)
    assert run.work_done.pixels == pytest.approx(expected.pixels)


def test_a_stopped_run_counts_only_what_it_did(content_image, style_image):
    settings = Settings(size=96, iterations=3, min_size=48, seed=0, frame_every=10**9, stop_after=2)
    run = StyleTransfer(settings)
    for _ in run.run(content_image, [style_image]):
        pass
    assert run.iterations_done == 2
    assert run.work_done.pixels < work_of(run.settings, content_image.size, [style_image.size]).pixels
