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

from media import video_frames

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
    mp4 = tmp_path / "run.mp4"
    assert cli.main([str(content), str(style), "-o", str(out), "--size", "48", "--iterations", "3",
                     "--timelapse", str(mp4), "--save-every", "1", "--quiet"]) == 0
    assert video_frames(mp4.read_bytes()) >= 3
    assert "it/s" in proc.stderr or "s/it" in proc.stderr  # tqdm progress bar on stderr


def test_a_run_says_where_the_file_went_and_shows_no_empty_bar(image_files, tmp_path):
    content, style = image_files
    out = tmp_path / "out.png"
    proc = subprocess.run([sys.executable, "-m", "styletransfer", str(content), str(style), "-o", str(out),
                           "--size", "48", "--iterations", "2", "--no-multiscale"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "0it [" not in proc.stderr  # no bar before the first iteration
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"wrote {out}: 40×48 px in ") and last.endswith(" s")


def test_the_no_multiscale_help_says_what_it_does():
    help_text = " ".join(cli.build_parser().format_help().split())
    assert "--no-multiscale one scale only, at the full size" in help_text


@pytest.mark.parametrize("bad", ["missing.png", "folder", "empty.png", "notes.png", "drawing.svg", "doc.pdf",
                                 "photo.heic", "truncated.jpg", "bomb.png", "panorama.png", "tiny.png"])
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
    (["-o", "out.png", "--style-weight", "nan"], "style_weight must be a finite number"),
    (["-o", "out.png", "--content-layers", "relu9_9"], "has no layer 'relu9_9'"),
    (["-o", "out.png", "--save-every", "3"], "needs --timelapse"),
    (["-o", "out.png", "--backbone", "vgg99"], "unknown backbone 'vgg99'; choose one of: vgg19"),
    (["-o", "out.png", "--backbone", "nothere.pt"], "backbone file nothere.pt not found"),
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


def test_an_elongated_photo_is_refused_with_the_numbers_and_what_to_do(tmp_path, bad_files, image_files, capsys):
    _, style = image_files
    out = tmp_path / "out.png"
    assert cli.main([bad_files["panorama.png"], str(style), "-o", str(out), "--size", "512", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "4000×60 px is too narrow" in err and "short side would be 8 px" in err and "at least 16 px" in err
    assert "choose a size of at least 1067 px or crop it" in err
    assert not out.exists()


def test_a_tiny_image_is_refused(tmp_path, bad_files, image_files, capsys):
    content, _ = image_files
    assert cli.main([str(content), bad_files["tiny.png"], "-o", str(tmp_path / "o.png"), "--quiet"]) == 2
    assert "8×8 px is too small to work with (at least 32 px a side)" in capsys.readouterr().err


def test_an_animation_is_used_by_its_first_frame_and_the_user_is_told(tmp_path, animated_gif, image_files, capsys):
    _, style = image_files
    out = tmp_path / "o.png"
    assert cli.main([animated_gif, str(style), "-o", str(out), "--size", "48", "--iterations", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"note: {animated_gif}: an animation of 3 frames; its first frame is used" in err
    assert out.exists()


def test_every_setting_marked_for_the_cli_is_an_option_with_its_help():
    from styletransfer.settings import setting_fields

    help_text = cli.build_parser().format_help()
    for f in setting_fields():
        if f.metadata["cli"]:
            flag = ("--no-" if f.default is True else "--") + f.name.replace("_", "-")
            assert flag in help_text, flag


def test_options_given_with_settings_from_override_the_record(image_files, tmp_path):
    content, style = image_files
    first, again = tmp_path / "first.png", tmp_path / "again.png"
    assert cli.main([str(content), str(style), "-o", str(first), "--size", "48", "--iterations", "2", "--quiet"]) == 0
    assert cli.main([str(content), str(style), "-o", str(again), "--settings-from", str(first),
                     "--style-weight", "33", "--quiet"]) == 0
    a, b = read_png_settings(str(first)), read_png_settings(str(again))
    assert b["style_weight"] == 33 and b["seed"] == a["seed"] and b["size"] == 48
