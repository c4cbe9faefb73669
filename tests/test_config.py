import pytest

from bench.errors import ConfigError
from bench.measure.config import load_suite_config, shipped_suites, timing_policy


def write(tmp_path, text, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_shipped_suites_load_and_validate():
    assert {"quick", "default", "full"} <= set(shipped_suites())
    for name in ("quick", "default", "full"):
        config = load_suite_config(name)
        assert set(config["suites"]) >= {"gemm", "attention", "stream"}
        assert config["suites"]["stream"]["llc_multiple"] >= 4


def test_defaults_fill_in_and_timing_merges_per_suite(tmp_path):
    path = write(tmp_path, """
timing: {samples: 7}
suites:
  stream: {kernels: [triad], timing: {samples: 3}}
  gemm: {dtypes: [fp32], shapes: [[64, 64, 64]]}
""")
    config = load_suite_config(path)
    assert config["suites"]["stream"]["dtype"] == "fp32"
    assert config["suites"]["stream"]["sweep"]["enabled"] is False
    assert timing_policy(config, "stream").samples == 3
    assert timing_policy(config, "gemm").samples == 7


@pytest.mark.parametrize("text,fragment", [
    ("suites: {gemm: {dtypes: [fp32], shapes: [[1,1,1]], shapez: 1}}", "suites.gemm.shapez: unknown key"),
    ("suites: {gemm: {dtypes: [fp7], shapes: [[1,1,1]]}}", "suites.gemm.dtypes"),
    ("suites: {gemm: {dtypes: [fp32], shapes: [[-4,1,1]]}}", "suites.gemm.shapes"),
    ("suites: {stream: {kernels: [triad], llc_multiple: -1}}", "suites.stream.llc_multiple"),
    ("suites: {stream: {kernels: [stir]}}", "suites.stream.kernels"),
    ("suites: {nbody: {}}", "suites.nbody: unknown key"),
    ("timing: {samples: 0}\nsuites: {stream: {kernels: [copy]}}", "timing.samples"),
    ("suites: {gemm: {dtypes: [fp32]}}", "missing shapes"),
    ("suites: {}", "no suite to run"),
    ("suites: [gemm: {]", "malformed YAML"),
    ("", "empty suite file"),
])
def test_bad_configs_name_file_and_key(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        load_suite_config(path)
    message = str(excinfo.value)
    assert fragment in message
    assert "suite.yaml" in message or "--set" in message
    assert "\n" not in message


def test_overrides_are_validated_too():
    config = load_suite_config("quick", ["suites.gemm.dtypes=[bf16]", "timing.samples=3"])
    assert config["suites"]["gemm"]["dtypes"] == ["bf16"]
    assert config["timing"]["samples"] == 3
    with pytest.raises(ConfigError, match="suites.gemm.dtypes"):
        load_suite_config("quick", ["suites.gemm.dtypes=[bf17]"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_suite_config("quick", ["suites.gemm.dtypes"])


def test_unknown_suite_name_lists_shipped_ones():
    with pytest.raises(ConfigError, match="quick"):
        load_suite_config("quik")


def test_yaml_is_loaded_safely(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\nsuites: {stream: {kernels: [copy]}}")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_suite_config(path)


STREAM = "suites: {stream: {kernels: [triad]}}"


@pytest.mark.parametrize("override,key", [
    ("timing.samples=100000000000000000000", "timing.samples"),  # 10^20 samples
    ("timing.max_measure_s=.inf", "timing.max_measure_s"),
    ("timing.max_measure_s=1e308", "timing.max_measure_s"),
    ("timing.max_measure_s=1.0e+308", "timing.max_measure_s"),
    ("timing.samples=3.0", "timing.samples"),
    ("timing.max_measure_s=.nan", "timing.max_measure_s"),
    ("timing.warmup_min_s=-1", "timing.warmup_min_s"),
    ("timing.samples=2.5", "timing.samples"),
    ("timing.samples=true", "timing.samples"),
    ("suites.gemm.max_iteration_s=-0.5", "suites.gemm.max_iteration_s"),  # a negative timeout
    ("suites.gemm.search.max_seconds=.inf", "suites.gemm.search.max_seconds"),
    ("suites.gemm.shapes=[[1,1,100000000000]]", "suites.gemm.shapes[0][2]"),
    ("suites.stream.min_array_bytes=1e300", "suites.stream.min_array_bytes"),
    ("suites.interconnect.sizes_bytes=[1,-5]", "suites.interconnect.sizes_bytes[1]"),
    ("seed=-1", "seed"),
])
def test_numbers_are_bounded_with_one_line_naming_the_key(override, key):
    with pytest.raises(ConfigError) as excinfo:
        load_suite_config("quick", [override])
    message = str(excinfo.value)
    assert f"--set {override}: {key}:" in message and "\n" not in message and len(message) < 300


def test_numbers_in_a_suite_file_are_bounded_too(tmp_path):
    path = write(tmp_path, "timing: {samples: .inf, max_samples: 5}\n" + STREAM)
    with pytest.raises(ConfigError, match=r"suite.yaml: timing.samples: expected a finite number"):
        load_suite_config(path)


def test_a_huge_value_is_never_printed_whole(tmp_path):
    path = write(tmp_path, "suites: {stream: {kernels: [" + ",".join(["stir"] * 50_000) + "]}}")
    with pytest.raises(ConfigError) as excinfo:
        load_suite_config(path)
    assert len(str(excinfo.value)) < 400
