"""Prints in a memory budget: tiled scales compute the same objective as whole ones, the grid moves, the budget is
kept by a real process, a tiled scale resumes and stops, and sizes beyond the budget are refused in one line.

Real VGG19 weights, small images; the budget tests run the CLI in a subprocess and read its peak RSS.
"""
import dataclasses
import io
import json
import math
import platform
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from styletransfer import images

from styletransfer.backbones import load_backbone
from styletransfer.engine import Controls, Settings, StyleTransfer
from styletransfer.engine.hardware import autocast
from styletransfer.engine.memory import (GB, BudgetTooSmall, DeviceMemory, MemoryBudget, NetMemory, held_memory,
                                         trimmer)
from styletransfer.engine.objective import Objective
from styletransfer.engine.tiles import TiledObjective, net_geometry, tile_grid
from styletransfer.examples import example_image
from styletransfer.tools.quality import Yardstick, seam_score

CPU = torch.device("cpu")


def truncated(backbone: str = "vgg19"):
    net = load_backbone(backbone, "cpu")
    layers = tuple(dict.fromkeys(net.content_layers + net.style_layers))
    return net.truncated(layers), layers


def both_objectives(settings: Settings, shape=(240, 328), core: int = 64,
                    memory_format: torch.memory_format = torch.contiguous_format):
    net, layers = truncated(settings.backbone)
    torch.manual_seed(0)
    photo, painting = torch.rand(1, 3, *shape), torch.rand(1, 3, 200, 264)
    if settings.backbone != "vgg19":  # sides on the stride: see test_efficientnet_tiles_are_exact_on_its_stride
        painting = torch.rand(1, 3, 192, 256)
    ac = lambda: autocast(CPU, settings.precision)  # noqa: E731
    whole = Objective(net, photo, [painting], settings, ac, memory_format)
    tiled = TiledObjective(net, photo, [painting], settings, ac, memory_format, core=core,
                           geometry=net_geometry(net, layers, CPU))
    return whole, tiled


def loss_and_grad(objective, x, weights):
    x = x.detach().clone().requires_grad_()
    loss, terms = objective(x, weights)
    loss.backward()
    return float(loss.detach()), {k: float(v.detach()) for k, v in terms.items()}, x.grad


@pytest.mark.parametrize("style_loss, memory_format", [("gram", torch.contiguous_format), ("w2", torch.contiguous_format),
                                                      ("gram", torch.channels_last)])
def test_a_tiled_objective_is_the_whole_images_loss_and_gradient(style_loss, memory_format):
    settings = Settings(precision="fp32", style_loss=style_loss)
    whole, tiled = both_objectives(settings, memory_format=memory_format)
    x = torch.rand(1, 3, 240, 328)
    loss, terms, grad = loss_and_grad(whole, x, settings.live_weights())
    tiled_loss, tiled_terms, tiled_grad = loss_and_grad(tiled, x, settings.live_weights())
    assert len([t for row in tiled.grid(x) for t in row]) > 4
    assert tiled_loss == pytest.approx(loss, rel=1e-4)
    for term in ("content", "style", "tv"):
        assert tiled_terms[term] == pytest.approx(terms[term], rel=1e-3)  # W2 from moments: float32 rounding
    assert float((tiled_grad - grad).norm() / grad.norm()) < 1e-3


def test_efficientnet_tiles_are_exact_on_its_stride():
    """TF 'same' padding depends on each stage's parity: sides on the network's stride give the same features."""
    settings = Settings(precision="fp32", backbone="efficientnet-lite0")
    whole, tiled = both_objectives(settings, shape=(240, 320))
    x = torch.rand(1, 3, 240, 320)
    loss, _, grad = loss_and_grad(whole, x, settings.live_weights())
    tiled_loss, _, tiled_grad = loss_and_grad(tiled, x, settings.live_weights())
    assert tiled_loss == pytest.approx(loss, rel=1e-4)
    assert float((tiled_grad - grad).norm() / grad.norm()) < 1e-3


def test_the_geometry_is_measured_on_the_network():
    net, layers = truncated()
    geometry = net_geometry(net, layers, CPU)
    assert geometry.strides == {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu4_2": 8, "relu5_1": 16}
    assert geometry.align == 16
    assert geometry.margin == 80  # conv5_1's receptive field is 156 px: 78 each side, on the 16-px grid


def test_the_grid_covers_every_pixel_once_and_moves_every_iteration():
    h, w, core, margin = 250, 330, 64, 32
    cover = torch.zeros(h, w, dtype=torch.int32)
    for tile in (t for row in tile_grid(h, w, core, margin, (16, 48)) for t in row):
        top, bottom, left, right = tile.core
        cover[top:bottom, left:right] += 1
        et, eb, el, er = tile.ext
        assert (et, el) == (max(0, top - margin), max(0, left - margin))
        assert (eb, er) == (min(h, bottom + margin), min(w, right + margin))
    assert bool((cover == 1).all())

    settings = Settings(precision="fp32")
    _, tiled = both_objectives(settings)
    x = torch.rand(1, 3, 240, 328)
    cuts, shapes = [], []
    for _ in range(20):
        tiles = [t for row in tiled.grid(x) for t in row]
        cuts.append(({t.core[0] for t in tiles} - {0}, {t.core[2] for t in tiles} - {0}))
        shapes.append({(t.ext[1] - t.ext[0], t.ext[3] - t.ext[2]) for t in tiles})
        tiled.calls += 1
    for (rows, cols), (next_rows, next_cols) in zip(cuts, cuts[1:]):
        assert not rows & next_rows and not cols & next_cols  # no border stays where it was
    # the network sees the first two iterations' tile shapes again and again, never a new one
    assert set().union(*shapes) == shapes[0] | shapes[1]


def test_budget_plans_whole_scales_tiles_and_refusals():
    net, layers = truncated()
    measures = NetMemory.count(net, layers, ("relu4_2",), lambda: autocast(CPU, "bf16"), 64, CPU)
    assert 500 < measures.per_pixel < 2000  # bytes autograd keeps per pixel of VGG19 to relu5_1, bf16
    geometry = lambda: net_geometry(net, layers, CPU)  # noqa: E731
    held = 0.7 * GB
    roomy = MemoryBudget(8 * GB, held, measures, geometry, "lbfgs")
    assert roomy.plan(1024, 1024).core is None
    tight = MemoryBudget(4 * GB, held, measures, geometry, "lbfgs")
    plan = tight.plan(2048, 2048)
    assert plan.core is not None and plan.core % 16 == 0 and plan.peak <= 4 * GB
    with pytest.raises(BudgetTooSmall, match=r"8192 px does not fit in a memory budget of 4.0 GB, even in tiles: "
                                             r"the largest it can do is \d+ px"):
        tight.plan(8192, 8192)
    with pytest.raises(BudgetTooSmall, match="too small for this network even in the smallest tiles"):
        MemoryBudget(0.75 * GB, held, measures, geometry, "lbfgs").plan(512, 512)
    # AMX's kernels hold more a tiled pass: the same budget plans smaller tiles, a whole scale as before
    amx = dataclasses.replace(measures, tiled_extra=0.2 * GB)
    assert MemoryBudget(4 * GB, held, amx, geometry, "lbfgs").plan(2048, 2048).core < plan.core
    assert MemoryBudget(8 * GB, held, amx, geometry, "lbfgs").plan(1024, 1024).core is None
    memory = DeviceMemory.of(MemoryBudget(4 * GB, held, amx, geometry, "lbfgs"))
    assert DeviceMemory.from_dict(memory.to_dict()) == memory  # as a worker reports it to the web side


def cli(tmp_path, *args) -> tuple[int, str, str]:
    """The CLI on the example photo and painting in a fresh process: exit status, stdout, stderr."""
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    if not photo.exists():
        example_image("hopper").save(photo)
        example_image("swirls").save(painting)
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
        child = subprocess.Popen([sys.executable, "-m", "styletransfer", str(photo), str(painting), *args, "--quiet"],
                                 stdout=out, stderr=err)
        child.wait()
        out.seek(0), err.seek(0)
        return child.returncode, out.read(), err.read()


def tiling_budget(size: int, held_gb: float, core: int = 192, share: float = 0.3) -> float:
    """A budget (GB) that ``size`` px of the example fits only in tiles, for a process holding ``held_gb`` at its
    run's start: ``share`` of the way from ``core`` px tiles to the whole image."""
    run = StyleTransfer(Settings(size=size, device="cpu"))
    budget = run._network(run.settings).budget
    width, height = example_image("hopper").size
    w, h = (size, round(size * height / width)) if width >= height else (round(size * width / height), size)
    tiled, whole = (budget.peak(h, w, c, 16) - budget.held + held_gb * GB for c in (core, None))
    assert tiled < whole
    return (tiled + share * (whole - tiled)) / GB


def summary(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_print_in_a_budget_keeps_it_and_paints_like_the_whole_run(tmp_path):
    """The CLI in a subprocess: the budget forces tiles; its peak RSS stays inside; the picture matches the
    untiled run's (judged distances within 3 %) and shows no seam."""
    common = ["--size", "768", "--iterations", "4", "--no-multiscale", "--seed", "3", "--json"]
    code, out, err = cli(tmp_path, "-o", str(tmp_path / "whole.png"), *common)
    assert code == 0, err
    whole = summary(out)
    assert whole["scales"][0]["tile"] is None
    budget = tiling_budget(768, whole["memory"]["held_gb"])
    code, out, err = cli(tmp_path, "-o", str(tmp_path / "tiled.png"), "--max-memory", f"{budget:.3f}", *common)
    assert code == 0, err
    tiled = summary(out)
    assert tiled["scales"][0]["tile"] is not None
    # the CLI's own resident high-water mark (ru_maxrss would count the pages a fork of this process inherited)
    assert tiled["memory"]["peak_gb"] <= budget

    photo, painting = (Image.open(tmp_path / n).convert("RGB") for n in ("photo.png", "painting.png"))
    yardstick = Yardstick(photo, painting, Settings(size=768))
    tiled_img, whole_img = (Image.open(tmp_path / n).convert("RGB") for n in ("tiled.png", "whole.png"))
    (c_t, s_t), (c_w, s_w) = (yardstick(images.image_to_tensor(i)) for i in (tiled_img, whole_img))
    assert c_t == pytest.approx(c_w, rel=0.03) and s_t == pytest.approx(s_w, rel=0.03)
    assert seam_score(tiled_img) <= max(1.02, seam_score(whole_img) * 1.02)


def test_every_scale_of_a_coarse_to_fine_print_is_planned_inside_the_budget(tmp_path):
    """Coarse scales leave memory behind (freed heap pages, the network's caches for their shapes): each scale is
    planned from what the process holds when it starts, so the print's peak RSS stays inside the budget."""
    code, out, err = cli(tmp_path, "-o", str(tmp_path / "whole.png"), "--size", "384", "--iterations", "1",
                         "--no-multiscale", "--json")
    assert code == 0, err
    budget = tiling_budget(1024, summary(out)["memory"]["held_gb"], core=256, share=0)
    code, out, err = cli(tmp_path, "-o", str(tmp_path / "print.png"), "--size", "1024", "--iterations", "2",
                         "--seed", "3", "--max-memory", f"{budget:.3f}", "--json")
    assert code == 0, err
    run = summary(out)
    assert len(run["scales"]) > 2 and run["scales"][-1]["tile"] is not None
    assert run["memory"]["peak_gb"] <= budget, run


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's heap: another C library keeps pages its own way")
def test_a_trimmer_gives_freed_pages_back_only_above_its_mark():
    """Freed tensors between live ones stay resident until given back; the trimmer does it above its mark."""
    chunks = [torch.ones(16 * 1024) for _ in range(4096)]  # 64 KB each, inside the heap: 256 MB
    del chunks[::2]  # 128 MB freed in holes between live chunks
    trimmer(CPU, above=math.inf)()
    kept = held_memory(CPU)
    trimmer(CPU, above=0)()
    assert kept - held_memory(CPU) > 64 * 2**20


def test_sizes_beyond_the_budget_are_refused_in_one_line_and_nothing_is_written(tmp_path):
    code, _, err = cli(tmp_path, "-o", str(tmp_path / "out.png"), "--size", "4096", "--max-memory", "1")
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "4096 px does not fit in a memory budget of 1.0 GB, even in tiles: the largest it can do is" in err
    code, _, err = cli(tmp_path, "-o", str(tmp_path / "out.png"), "--size", "512", "--max-memory", "0.3")
    assert code == 2 and "too small for this network even in the smallest tiles" in err
    assert not (tmp_path / "out.png").exists()


@pytest.fixture
def steady_process(monkeypatch):
    """What this process holds, fixed at its value now for the runs that follow: in a full test run the process's
    resident memory moves by hundreds of MB between two runs as other tests' memory is freed, more than the gap
    between a tiled and a whole 512-px plan. The real RSS is checked in a subprocess (the budget test above)."""
    from styletransfer.engine import loop
    from styletransfer.engine.memory import held_memory
    held = held_memory(torch.device("cpu"))
    monkeypatch.setattr(loop, "held_memory", lambda device: held)


def tiled_run(controls=None, size=512, iterations=2):
    """A single-scale run whose budget (halfway between 128-px tiles and the whole image) forces tiles; fp32, as
    AMX's bf16 kernels add to a tile's pass what makes tiles no smaller than the whole image at 512 px."""
    settings = Settings(size=size, iterations=iterations, multiscale=False, seed=5, device="cpu", precision="fp32")
    probe = StyleTransfer(settings)
    budget = probe._network(probe.settings).budget
    tiled, whole = budget.peak(size, size, 128, 16), budget.peak(size, size, None, 16)
    return StyleTransfer(Settings(**{**settings.to_dict(), "max_memory": (tiled + 0.5 * (whole - tiled)) / GB}),
                         controls)


def test_a_tiled_scale_resumes_from_its_checkpoint_and_stops_between_tiles(steady_process):
    photo, painting = example_image("landscape").resize((512, 512)), example_image("swirls").resize((512, 512))
    run = tiled_run()
    steps = run.run(photo, [painting])
    for progress in steps:
        if progress.iteration == 1:
            break
    checkpoint = run.checkpoint()
    assert run.scales[0]["tile"] is not None
    resumed = tiled_run()
    rest = [p.iteration for p in resumed.run(photo, [painting], resume=checkpoint)]
    assert rest == [2] and resumed.scales[0]["tile"] is not None
    assert resumed.result.size == (512, 512)

    controls = Controls()
    stopping = tiled_run(controls)
    for progress in stopping.run(photo, [painting]):
        controls.stop()  # arrives during the next iteration's tiles or before it: the image stays as it was
    assert stopping.stopped and stopping.iterations_done == 1


def test_a_print_paints_over_the_photo_as_uploaded_not_the_job_s_photo_enlarged(style_image):
    """A job keeps its photo larger than its result (up to the largest print, as a JPEG); Run again passes it on,
    and a print's photo is that one at the print's size."""
    from styletransfer.jobs import LocalJobs
    from styletransfer.limits import Limits

    uploaded = example_image("hopper")  # 512x600
    jobs = LocalJobs(devices=["cpu"], limits=Limits(max_size=64, max_print_size=400, frame_interval=0.0), nice=0)
    try:
        first = jobs.submit("alice", uploaded, [style_image], Settings(size=64, iterations=2, multiscale=False))
        kept = Image.open(io.BytesIO(jobs.store.photo(first.id)))
        assert kept.format == "JPEG" and kept.size == images.long_side_size(uploaded.size, 400)
        assert jobs.store.rerun_inputs(first.id, False)[0].size == (55, 64)  # the run's own photo: the job's size
        jobs.wait(first.id, "alice")
        assert jobs.store.photo(jobs.rerun(first.id, "alice").id) == jobs.store.photo(first.id)

        made = jobs.make_print(first.id, "alice", 256)
        painted_over = np.asarray(jobs.store.rerun_inputs(made.id, False)[0], dtype=float)
        jobs.cancel(made.id, "alice")
        at_print_size = images.resize_long_side(uploaded, 256)
        as_uploaded = np.asarray(at_print_size, dtype=float)
        enlarged = np.asarray(images.resize_long_side(uploaded, 64).resize(at_print_size.size, Image.BICUBIC),
                              dtype=float)
        assert painted_over.shape == as_uploaded.shape
        # measured 1.3 grey levels (JPEG, resampled twice) against 11.4 for the job's photo enlarged
        assert np.abs(painted_over - as_uploaded).mean() < 0.25 * np.abs(enlarged - as_uploaded).mean()

        small = jobs.submit("bob", uploaded.resize((48, 56)), [style_image],
                            Settings(size=64, iterations=2, multiscale=False))
        assert jobs.store.photo(small.id) is None  # no larger than its result: nothing more to keep
    finally:
        jobs.shutdown()


def test_make_a_print_paints_a_finished_result_again_larger(content_image, style_image):
    """The job service: a print of a finished job is a new job at the print size, its scales above the result's
    size, starting from the result; sizes outside (result, max_print_size] and unfinished jobs are refused."""
    from styletransfer.engine.memory import GB, DeviceMemory, NetMemory
    from styletransfer.jobs import JobNotFound, LimitExceeded, LocalJobs
    from styletransfer.limits import Limits

    jobs = LocalJobs(devices=["cpu"], limits=Limits(max_size=64, max_print_size=256, frame_interval=0.0), nice=0)
    try:
        first = jobs.submit("alice", content_image, [style_image],
                            Settings(size=64, iterations=3, multiscale=False, seed=0))
        with pytest.raises(ValueError, match="only a finished job can be made into a print"):
            jobs.make_print(first.id, "alice", 128)
        jobs.wait(first.id, "alice")
        made = jobs.make_print(first.id, "alice", 256)
        done = jobs.wait(made.id, "alice")
        assert done.status == "done" and "256-px print of job" in done.note
        assert done.settings["size"] == 256 and done.scales == 2  # 128 and 256: the scales above the 64-px result
        assert max(Image.open(io.BytesIO(jobs.result_png(made.id, "alice"))).size) == 256
        # it went on from the result, not from the photo: its first loss is far below the first job's first
        assert jobs.loss_history(made.id, "alice")[0]["total"] < 0.9 * jobs.loss_history(first.id, "alice")[0]["total"]
        for size in (64, 512):
            with pytest.raises(LimitExceeded, match=r"larger than the result \(64 px\) and at most 256 px"):
                jobs.make_print(first.id, "alice", size)
        with pytest.raises(JobNotFound):
            jobs.make_print(first.id, "mallory", 128)
        # the menu: the sizes above the result, each with its estimate; past the workers' memory, left out
        options = jobs.print_options(first.id, "alice", [64, 91, 128, 181, 256])
        assert [size for size, _ in options] == [91, 128, 181, 256]
        assert all(seconds > 0 for _, seconds in options) and options[-1][1] > options[0][1]
        vgg19_on_a_cpu = NetMemory(fixed=26e6, per_pixel=886.0, targets_per_pixel=16.0)
        jobs.store.speed().memory = DeviceMemory(budget=0.06 * GB, held=0.0, net=vgg19_on_a_cpu, align=16, margin=80)
        small = jobs.print_options(first.id, "alice", [91, 128, 181, 256])
        assert 0 < len(small) < 4 and [size for size, _ in small] == [91, 128, 181, 256][:len(small)]
        with pytest.raises(JobNotFound):
            jobs.print_options(first.id, "mallory", [128])
    finally:
        jobs.shutdown()
