"""The command line: a real run end to end, and one clear line + exit 2 for every bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from styletransfer import cli
from styletransfer.images import read_png_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cli_end_to_end_with_json_and_timelapse(image_files, tmp_path):
    content, style = image_files
    out, gif = tmp_path / "out.png", tmp_path / "run.gif"
    proc = subprocess.run(
        [sys.executable, "-m", "styletransfer", str(content), str(style), "-o", str(out), "--size", "64",
         "--iterations", "3", "--seed", "5", "--save-every", "2", "--timelapse", str(gif), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["size"] == [53, 64]
    assert summary["iterations"] == 3
    assert summary["backbone"] == "vgg19" and summary["device"] == "cpu"
    assert set(summary["losses"]) == {"content", "style", "tv", "total"}
    assert summary["seconds"] > 0 and summary["seconds_per_iteration"] > 0
    assert Image.open(out).size == (53, 64)
    settings = read_png_settings(str(out))
    assert settings["seed"] == 5 and settings["iterations"] == 3 and settings["size"] == 64
    assert Image.open(gif).n_frames >= 2
    assert "it/s" in proc.stderr or "s/it" in proc.stderr  # tqdm progress bar on stderr


@pytest.mark.parametrize("bad", ["missing.png", "folder", "empty.png", "notes.png", "drawing.svg", "doc.pdf",
                                 "photo.heic", "truncated.jpg", "bomb.png"])
def test_bad_inputs_give_one_line_and_exit_2(tmp_path, image_files, bad_files, capsys, bad):
    content, style = image_files
    out = tmp_path / "out.png"
    for args in ([bad_files[bad], str(style)], [str(content), bad_files[bad]]):
        code = cli.main(args + ["-o", str(out), "--size", "32", "--iterations", "1", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
        assert not out.exists()
        assert [p for p in os.listdir(tmp_path) if "partial" in p] == []


@pytest.mark.parametrize("args,pattern", [
    (["-o", "out.jpg"], "must be a .png file"),
    (["-o", "/no/such/folder/out.png"], "does not exist"),
    (["-o", "out.png", "--size", "3"], "size must be"),
    (["-o", "out.png", "--style-blend", "1", "2"], "2 style blend weights given for 1"),
    (["-o", "out.png", "--save-every", "3"], "needs --timelapse"),
    (["-o", "out.png", "--backbone", "vgg99"], "invalid choice"),
    (["-o", "out.png", "--device", "cuda:3"], "CUDA is not available"),
])
def test_bad_options_give_one_line_and_exit_2(image_files, tmp_path, capsys, monkeypatch, args, pattern):
    monkeypatch.chdir(tmp_path)
    content, style = image_files
    code = cli.main([str(content), str(style), "--iterations", "1", "--quiet"] + args)
    err = capsys.readouterr().err
    assert code == 2 and pattern in err and err.count("\n") == 1
    assert not (tmp_path / "out.png").exists()


def test_a_result_png_reproduces_itself(image_files, tmp_path, capsys):
    content, style = image_files
    first, again = tmp_path / "first.png", tmp_path / "again.png"
    assert cli.main([str(content), str(style), "-o", str(first), "--size", "48", "--iterations", "3",
                     "--style-weight", "25", "--init", "noise", "--quiet"]) == 0
    assert cli.main([str(content), str(style), "-o", str(again), "--settings-from", str(first), "--quiet"]) == 0
    assert read_png_settings(str(again)) == read_png_settings(str(first))
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(first)))
    code = cli.main([str(content), str(style), "-o", str(tmp_path / "x.png"), "--settings-from", str(content)])
    assert code == 2 and "carries no settings" in capsys.readouterr().err
