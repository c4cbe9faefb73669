"""Typed errors. The library raises these; only bench.cli turns them into messages and exit codes."""

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3


class BenchError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback."""

    exit_code = EXIT_USAGE


class UsageError(BenchError):
    """A command line that cannot be acted on."""


class ConfigError(BenchError):
    """A config, profile, spec or plan file that does not validate. The message names file and key."""


class DeviceUnavailable(BenchError):
    """The requested device is not present; the message lists the devices that are."""


class ResultsError(BenchError):
    """A results folder that is missing, unreadable or of an unknown schema version."""


class MeasurementError(BenchError):
    """One measurement could not be taken (out of memory, unsupported op); recorded as a skip."""

    exit_code = EXIT_CHECK_FAILED


class TooSlow(MeasurementError):
    """One iteration took longer than the suite's max_iteration_s; `iteration_s` says how long.

    `iteration_s` is None when only the first call was seen (it was so slow that it was not repeated):
    a first call includes one-time work, so no rate may be derived from it; `first_call_s` says how long."""

    def __init__(self, message: str, iteration_s: float | None, first_call_s: float | None = None):
        super().__init__(message)
        self.iteration_s = iteration_s
        self.first_call_s = first_call_s


class RecordError(ResultsError):
    """A run-folder file (run.json, verdict.json, a unit record) that is not what accelbench writes:
    binary or not UTF-8, too large, nested too deep, duplicate keys, NaN/Infinity, a wrong type or a
    missing key, or a schema_version from the future. Also raised when asked to write such a value."""


class MissingDependency(BenchError):
    """An optional library a command needs is not installed; the message names the pip package."""
