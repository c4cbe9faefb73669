"""The hostile corpus' shared lab: real run folders built once per session (synthetic runs whose every
number re-derives, judged by bench.rules.verdict, signed with a lab key), copied fresh for each case."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: run_factory, verdict_fixtures

from run_factory import synthetic_run, write_run  # noqa: E402

from bench.evidence import signing  # noqa: E402
from bench.rules.verdict import check_run, save_verdict  # noqa: E402

SERIALS = ["HX-0001", "HX-0002", "HX-0003"]


def judged_unit(folder: Path, run_id: str, serial: str | None, speed: float = 1.0) -> Path:
    """A unit folder: run.json, measurements.csv and a verdict.json naming the run.json it judged."""
    write_run(folder, synthetic_run(run_id, serial=serial, speed=speed))
    save_verdict(folder, check_run(folder))
    return folder


def multi_unit(folder: Path) -> Path:
    """A lot record with units/<label>/run.json beside it, written by bench/lab/multiunit.py."""
    from bench.lab import multiunit
    from bench.measure.runner import host_record

    node = multiunit.node_run("hx-multi", ["bench", "run"], {}, None, "node", host_record())
    records = []
    for i, serial in enumerate(SERIALS[:2]):
        spec = multiunit.UnitSpec(f"u{i}", f"cuda:{i}")
        unit = synthetic_run(f"hx-multi-{i}", serial=serial, index=i)
        multiunit.mark_unit(unit, spec, "hx-multi")
        write_run(folder / spec.run_dir, unit)
        records.append(multiunit.unit_record(spec, unit, 0, []))
    multiunit.finish_node(folder, node, records)
    return folder


class Lab:
    """Paths of the session's pristine evidence; `copy(name, target)` gives a case its own copy."""

    def __init__(self, root: Path):
        self.root = root
        keys = root / "keys"
        keys.mkdir()
        self.lab_key = signing.generate_keys(keys / "lab.key")
        self.forger_key = signing.generate_keys(keys / "forger.key")
        self.good = judged_unit(root / "good", "hx-good", "HX-GOOD")
        signing.sign_run(self.good, self.lab_key.private_path)
        self.unsigned = judged_unit(root / "unsigned", "hx-unsigned", "HX-UNSIGNED")
        self.lot = [judged_unit(root / "lot" / f"u{i}", f"hx-lot-{i}", s) for i, s in enumerate(SERIALS)]
        for unit in self.lot:
            signing.sign_run(unit, self.lab_key.private_path)
        self.multi = multi_unit(root / "multi")
        signing.sign_run(self.multi, self.lab_key.private_path)
        self.manifest = root / "manifest.yaml"
        self.manifest.write_text("lot: HX\nunits:\n" + "".join(f"  - serial: {s}\n" for s in SERIALS))

    def copy(self, source: Path, target: Path) -> Path:
        return Path(shutil.copytree(source, target))

    def copy_lot(self, target: Path) -> list[Path]:
        return [self.copy(unit, target / unit.name) for unit in self.lot]


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    return Lab(tmp_path_factory.mktemp("hostile-lab"))
