"""On a CUDA GPU: the engine, the job manager and training run there, agree with the CPU, and a run
moves between the two. Skipped where torch sees no GPU (CI has none): on a GPU machine,
``python -m pytest tests/test_cuda.py``."""
import dataclasses
import io

import pytest
import torch
from PIL import Image

from styletransfer.training import train
from styletransfer.engine import Settings, StyleTransfer
from styletransfer.jobs import LocalJobs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def small(**fields) -> Settings:
    return Settings(**{**dict(size=96, iterations=12, multiscale=False, seed=0), **fields})


def test_auto_runs_on_the_gpu_in_bf16_and_paints(content_image, style_image):
    run = StyleTransfer(small())
    steps = list(run.run(content_image, [style_image]))
    assert run.device.type == "cuda"
    assert run.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    assert steps[-1].losses["style"] < 0.5 * steps[0].losses["style"]
    assert all(torch.isfinite(torch.tensor(list(p.losses.values()))).all() for p in steps)
    assert run.result.size == (80, 96)


def test_the_gpu_and_the_cpu_compute_the_same_losses(content_image, style_image):
    first = {}
    for device in ("cpu", "cuda"):
        run = StyleTransfer(small(iterations=1, precision="fp32", device=device))
        first[device] = next(iter(run.run(content_image, [style_image]))).losses
    for term in ("content", "style", "tv", "total"):  # TF32 convolutions on the GPU: not bit for bit
        assert first["cuda"][term] == pytest.approx(first["cpu"][term], rel=0.02, abs=1e-6), term


def test_a_run_stopped_on_the_gpu_resumes_on_the_cpu(content_image, style_image):
    """What the Redis backend does when a GPU worker is lost and another worker (any device) takes over."""
    settings = small(iterations=8, device="cuda")
    on_gpu = StyleTransfer(settings)
    for p in on_gpu.run(content_image, [style_image]):
        if p.iteration == 4:
            break
    checkpoint = on_gpu.checkpoint()
    assert checkpoint.image.device.type == "cpu"
    on_cpu = StyleTransfer(dataclasses.replace(settings, device="cpu"))
    steps = list(on_cpu.run(content_image, [style_image], resume=checkpoint))
    assert [p.iteration for p in steps] == [5, 6, 7, 8]
    assert on_cpu.result.size == (80, 96)


def test_the_job_manager_puts_a_worker_on_each_gpu(content_image, style_image):
    manager = LocalJobs(preload=None)
    try:
        assert manager.devices == [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        view = manager.submit("me", content_image, [style_image], small(iterations=20))
        view = manager.wait(view.id, "me", timeout=120)
        assert view.status == "done" and view.device == "cuda:0"
        assert Image.open(io.BytesIO(manager.result_png(view.id, "me"))).size == (80, 96)
    finally:
        manager.shutdown(timeout=10)


def test_a_network_trained_on_the_gpu_paints_there(tmp_path, content_image, style_image):
    data = tmp_path / "demo"
    train.make_demo_data(str(data), per_class=6, val_per_class=2, size=40)
    out = tmp_path / "net.pt"
    assert train.main(["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "8",
                       "--image-size", "32", "--workers", "0", "--quiet", "--device", "cuda"]) == 0
    run = StyleTransfer(small(backbone=str(out), device="cuda"))
    steps = list(run.run(content_image, [style_image]))
    assert steps[-1].losses["style"] < steps[0].losses["style"]
