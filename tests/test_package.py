"""The package as someone installs it: a wheel built from this checkout, installed outside it, runs the
CLI and serves the studio's page and assets from any folder."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import requests

from browser import ROOT, free_port, wait_until


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel installed into a folder of its own (its dependencies are this environment's)."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # built from a copy: a build leaves build/ and *.egg-info where it runs
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", ".pytest_cache", "build", "*.egg-info", "out"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, timeout=600)
    wheels = list(out.glob("style_transfer_studio-*.whl"))
    assert len(wheels) == 1, wheels
    target = out / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheels[0])],
                   check=True, capture_output=True, timeout=600)
    return target


def run_there(installed, cwd, *args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(installed))
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kwargs)


def test_the_wheel_carries_the_assets_and_the_commands(installed):
    assert (installed / "styletransfer" / "web" / "assets" / "studio.js").is_file()
    assert (installed / "styletransfer" / "web" / "static" / "bootstrap.min.css").is_file()
    assert (installed / "styletransfer" / "web" / "static" / "quick.css").is_file()
    for script in ("style-studio", "style-worker", "styletransfer"):
        assert (installed / "bin" / script).is_file(), script


def test_the_installed_cli_paints_a_tiny_image_from_any_folder(installed, tmp_path, content_image, style_image):
    content_image.save(tmp_path / "photo.png")
    style_image.save(tmp_path / "painting.png")
    done = run_there(installed, tmp_path, str(installed / "bin" / "styletransfer"), "photo.png", "painting.png",
                     "-o", "out.png", "--size", "48", "--iterations", "2", "--no-multiscale", "--quiet", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out.png").stat().st_size > 0
    where = run_there(installed, tmp_path, sys.executable, "-c", "import styletransfer; print(styletransfer.__file__)")
    assert where.stdout.strip().startswith(str(installed))  # the installed copy, not this checkout


def test_the_installed_studio_serves_its_page_and_assets(installed, tmp_path):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(installed), PORT=str(port), STUDIO_STATE_DIR=str(tmp_path / "state"),
               TORCH_HOME=str(tmp_path / "torch"))
    log = open(tmp_path / "studio.log", "w")
    proc = subprocess.Popen([str(installed / "bin" / "style-studio")], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(url + "/", timeout=2).status_code == 200, timeout=120, message="the studio")
        page = requests.get(url + "/", timeout=10).text
        assert "/assets/studio.js" in page and "/assets/studio.css" in page
        assert "tenToThe" in requests.get(url + "/assets/studio.js", timeout=10).text
        assert requests.get(url + "/quick/assets-local/bootstrap.min.css", timeout=10).status_code == 200
        assert requests.get(url + "/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_the_package_and_the_requirements_name_the_same_dependencies():
    import tomllib

    def names(lines):
        return {re.split(r"[<>=!;\[ ]", line.strip(), maxsplit=1)[0].lower() for line in lines
                if line.strip() and not line.strip().startswith(("#", "-r"))}

    project = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["project"]
    wanted = names(project["dependencies"]) | names(project["optional-dependencies"]["redis"])
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        assert names(line.split("#")[0] for line in f) == wanted
