"""training/students.py: the candidate students keep VGG19's layer names and loss-layer widths, and their
cost is measured against VGG19 in the same process (figures: docs/history.md)."""
from styletransfer.backbones import VGG19_CFG
from styletransfer.training import students


def test_multiply_adds_follow_the_widths():
    full = students.macs_per_pixel(students.candidate(VGG19_CFG))
    quarter = students.macs_per_pixel(students.candidate(students.CANDIDATES["vgg19 ¼ width"]))
    conv1_1, conv1_2 = 3 * 64 * 9, 64 * 64 * 9
    assert full > conv1_1 + conv1_2
    assert 1 / 16 < quarter / full < 0.1  # a sixteenth of the convolutions, plus the adapters


def test_the_table_is_measured_against_vgg19(capsys):
    assert students.main(["--size", "64", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("vgg19")]
    assert lines[0].split()[-1] == "1.000" and len(lines) == 4  # vgg19 itself, then its ½, ¼, ⅛ widths
    assert "AVX" in out.splitlines()[0] or "fp32" in out.splitlines()[0]
    assert students.main(["--size", "8"]) == 2


def test_the_table_runs_in_bf16_as_the_engine_would(capsys):
    assert students.main(["--size", "64", "--repeat", "1", "--precision", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "bf16" in out.splitlines()[0]
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("vgg19 ")][0] == "1.000"
