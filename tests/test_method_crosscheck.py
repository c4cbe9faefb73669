"""benchmarks/method_crosscheck.py in its CI-size form: real CPU measurements, tiny shapes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import method_crosscheck  # noqa: E402


def test_crosscheck_runs_both_methods_on_the_same_shapes(capsys):
    code, rows = method_crosscheck.main(["--device", "cpu", "--tiny", "--dtypes", "fp32"])
    assert code == 0
    assert [r["name"] for r in rows] == list(method_crosscheck.TINY_SHAPES)
    for r in rows:
        mamf = r["mamf"]
        assert 0 < mamf["median"] <= mamf["max"] and mamf["mean"] <= mamf["max"]
        assert r["gap_vs_max"] == r["accelbench"]["median"] / mamf["max"]
    printed = capsys.readouterr().out
    assert "tiny-cube 128x128x128" in printed and "/max" in printed


def test_mamf_side_takes_b_column_major():
    import torch

    from bench.devices.cpu import CpuBackend
    from bench.kernels import gemm

    kernel = gemm.make_kernel(gemm.case_for("fp32", (32, 48, 64)), CpuBackend())
    kernel.setup()
    method_crosscheck.column_major_b(kernel)
    assert kernel.b.shape == (64, 48) and kernel.b.stride() == (1, 64)
    kernel.step()
    assert kernel.check().passed and isinstance(kernel.c, torch.Tensor)
