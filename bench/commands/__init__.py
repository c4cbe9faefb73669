"""One module per `bench` sub-command. Each exposes `add_parser(subparsers)` and `run(args) -> int`.

To add a command: write bench/commands/<name>.py and add its name and one-line help to COMMANDS.
The CLI imports only the module of the command being run (so `bench --help` and the data-only
commands never load torch); the help line here is what `bench --help` lists, and
tests/test_lean.py checks that it equals the module's own.
"""

COMMANDS: dict[str, str] = {
    "run": "measure GEMM, attention and memory streams on a device",
    "devices": "list the devices present",
    "doctor": "check that this machine is ready to measure",
    "keygen": "create an Ed25519 key pair for signing results",
    "sign": "sign a results folder (Ed25519, in-toto/DSSE)",
    "verify": "verify a signed results folder and recompute its numbers",
    "fleet": "aggregate many units into a shipment-lot summary",
    "specs": "declared device specs, TPP and export-control classification",
    "profiles": "list threshold profiles, or show one's criteria",
    "check": "verdict for a measured run against a threshold profile",
    "report": "write report.html and report.md for a run or lot folder",
    "compare": "compare runs measurement by measurement (a CI gate)",
}

# Third-party libraries some commands need that a lean install (torch, numpy, pyyaml) may lack,
# with the pip package that provides each.
OPTIONAL_LIBRARIES: dict[str, str] = {
    "cryptography": "cryptography",
    "matplotlib": "matplotlib",
    "pandas": "pandas",
    "rich": "rich",
    "pytest_benchmark": "pytest-benchmark",
    "pynvml": "nvidia-ml-py",
    "amdsmi": "amdsmi",
}
