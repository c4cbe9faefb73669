"""Everything the CLI shows as a table, and the one mapping from metric keys to human names.

One table model (`Table`), three renderings: terminal text (rich when importable, a plain layout
otherwise; rich stays optional for `bench run/check/specs/devices`), Markdown and JSON. Commands
that print a table take `--format text|md|json` (`add_format_option`) and call `render()`.
Pure: functions return strings; the CLI prints."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import shutil
from typing import Any, Iterable, Mapping, Sequence

FORMATS = ("text", "md", "json")


# --- numbers -----------------------------------------------------------------------------------

def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: significant digits below 1000, thousands separators above; '-' for none/NaN/inf."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        if value == 0:
            return "0"
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


# --- metric names ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Metric:
    """How a metric key reads in text: its name and its unit ('' for a pure number such as TPP)."""

    name: str
    unit: str = ""

    @property
    def label(self) -> str:
        """The name with its unit, for a column header: 'DRAM bandwidth (GB/s)'."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


METRICS: dict[str, Metric] = {
    "tpp": Metric("TPP"),
    "effective_tpp": Metric("Effective TPP"),
    "performance_density": Metric("Performance density", "TPP/mm²"),
    "dram_bandwidth_gbps": Metric("DRAM bandwidth", "GB/s"),
    "dram_bandwidth_gbs": Metric("DRAM bandwidth", "GB/s"),
    "effective_dram_bandwidth": Metric("Effective DRAM bandwidth", "GB/s"),
    "bidirectional_io_gbps": Metric("Bidirectional I/O bandwidth", "GB/s"),
    "hbm_bandwidth_density": Metric("HBM bandwidth density", "GB/s/mm²"),
    "die_area_mm2": Metric("Die area", "mm²"),
    "memory_bytes": Metric("Memory", "bytes"),
    "busbw_gbps": Metric("Bus bandwidth", "GB/s"),
}

SUITE_NAMES = {"gemm": "GEMM", "attention": "Attention", "stream": "Stream", "interconnect": "Interconnect"}
_UNIT_SPELLING = {"TPP/mm2": "TPP/mm²", "GB/s/mm2": "GB/s/mm²", "mm2": "mm²", "TPP": ""}
_OPERATORS = {">=": "≥", "<=": "≤", "==": "=", ">": ">", "<": "<"}


def _dtype_unit(dtype: str) -> str:
    return "TOPS" if dtype.startswith("int") else "TFLOPS"


def metric(key: str) -> Metric:
    """The human name and unit of a metric key; also `tops_<dtype>` and `tpp_<dtype>`."""
    if key in METRICS:
        return METRICS[key]
    if key.startswith("tops_"):
        dtype = key[len("tops_"):]
        return Metric(f"{dtype} throughput", _dtype_unit(dtype))
    if key.startswith("tpp_"):
        return Metric(f"TPP ({key[len('tpp_'):]})")
    if key.startswith(("tops:", "gemm:")):
        dtype = key.split(":", 1)[1]
        return Metric(f"{dtype} GEMM throughput", _dtype_unit(dtype))
    return Metric(key.replace("_", " "))


def unit_text(unit: str | None) -> str:
    """A unit as people write it ('TPP/mm2' -> 'TPP/mm²'); TPP needs none."""
    return _UNIT_SPELLING.get(unit or "", unit or "")


def criterion_text(metric_key: str, op: str, value: float, unit: str | None = None) -> str:
    """A threshold in words: ('dram_bandwidth_gbps', '<', 6500, 'GB/s') -> 'DRAM bandwidth < 6,500 GB/s'."""
    shown_unit = unit_text(unit) if unit is not None else metric(metric_key).unit
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"
    return f"{metric(metric_key).name} {_OPERATORS.get(op, op)} {number}{' ' + shown_unit if shown_unit else ''}"


_CRITERION = re.compile(r"^(?:(?P<rule>[^:]+): )?(?P<metric>[a-z][a-z0-9_:]*) (?P<op><=|>=|==|<|>) "
                        r"(?P<value>[0-9][0-9,.eE+-]*)(?: (?P<unit>[^\s()]+))?(?: \((?P<note>[^()]*)\))?$")


def humanize_criterion(text: str) -> str:
    """A criterion id such as 'case-by-case: dram_bandwidth_gbps < 6,500 GB/s (strict)' in words:
    'case-by-case: DRAM bandwidth < 6,500 GB/s (strict)'. Text of another form comes back unchanged."""
    match = _CRITERION.match(text.strip())
    if not match:
        return text
    try:
        value = float(match["value"].replace(",", ""))
    except ValueError:
        return text
    body = criterion_text(match["metric"], match["op"], value, match["unit"])
    if match["note"]:
        body += f" ({match['note']})"
    return f"{match['rule']}: {body}" if match["rule"] else body


# --- measurement names -------------------------------------------------------------------------

def shape_label(case: str) -> str:
    """A case string or measurement id as people read it: 'm=384,n=256,k=320,search_trial=1' ->
    '384×256×320 (search)'; other cases list their parameters with spaces."""
    params = dict(part.split("=", 1) for part in case.rsplit("/", 1)[-1].split(",") if "=" in part)
    if not params:
        return case.rsplit("/", 1)[-1]
    tags = []
    if "search_trial" in params:
        tags.append("search")
    if params.get("variant") not in (None, "standard"):
        tags.append(params["variant"])
    if params.get("role"):
        tags.append(params["role"])
    if params.get("llc_multiple"):
        tags.append(f"{params['llc_multiple']}× LLC")
    if {"m", "n", "k"} <= set(params):
        body = f"{params['m']}×{params['n']}×{params['k']}"
    elif {"batch", "heads", "seq_len", "head_dim"} <= set(params):
        body = f"B={params['batch']} H={params['heads']} S={params['seq_len']} D={params['head_dim']}"
        if params.get("causal") in ("True", "true"):
            tags.insert(0, "causal")
    else:
        skip = {"search_trial", "variant", "role", "llc_multiple", "causal"}
        body = " ".join(f"{key.replace('_', ' ')} {value}" for key, value in params.items() if key not in skip)
    return body + (f" ({', '.join(tags)})" if tags else "")


def measurement_name(measurement: Mapping[str, Any]) -> str:
    """'GEMM bf16 1024×1024×1024', 'Stream triad fp32 128 MiB (dram, 4.0× LLC)'."""
    suite = str(measurement.get("suite", ""))
    suite = SUITE_NAMES.get(suite, suite)
    kernel = measurement.get("kernel")
    middle = "" if kernel in (None, "matmul", "sdpa") else f" {kernel}"
    case = str(measurement.get("id", "")).split("/")[-1]
    shape = shape_label(case) if "=" in case else ""
    params = measurement.get("params")
    array_bytes = params.get("array_bytes") if isinstance(params, Mapping) else None
    if measurement.get("suite") == "stream" and isinstance(array_bytes, (int, float)) and array_bytes > 0:
        tags = shape[shape.index("("):] if "(" in shape else ""
        shape = f"{fmt(array_bytes / 2**20)} MiB {tags}".strip()
    return " ".join(part for part in (f"{suite}{middle}", str(measurement.get("dtype") or ""), shape) if part)


# --- tables ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Table:
    """Rows of raw cells (numbers stay numbers for JSON) under column names; `align` per column
    ('l' or 'r'; default: the first column left, the others right)."""

    columns: list[str]
    rows: list[list[Any]]
    title: str | None = None
    align: list[str] | None = None
    note: str | None = None

    def alignments(self) -> list[str]:
        return self.align or ["l"] + ["r"] * (len(self.columns) - 1)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, (_json_cell(c) for c in row))) for row in self.rows]


def natural_width(tables: Sequence["Table"]) -> int:
    """The width at which every column of every table shows its widest cell whole."""
    return max((sum(max(len(_cell(c)) for c in column) + 3 for column in zip(t.columns, *t.rows))
                for t in tables if t.columns), default=0)


def _cell(value: Any) -> str:
    return fmt(value) if isinstance(value, (int, float)) or value is None else str(value)


def _json_cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def terminal_width(default: int = 120) -> int:
    return shutil.get_terminal_size((default, 24)).columns


def _plain(table: Table) -> str:
    cells = [[_cell(c) for c in row] for row in table.rows]
    widths = [max(len(x) for x in column) for column in zip(table.columns, *cells)]
    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(row, widths, table.alignments())).rstrip()
    return "\n".join([line(table.columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _unwrapped_rich_layout(table: Table, width: int) -> str | None:
    """What `_rich` prints when every cell fits on one line at `width`, laid out directly (rich's table
    renderer takes most of `bench specs`'s start-up); None when rich must wrap or lay out a cell.

    rich's SIMPLE_HEAD box without edges: columns padded one space each side except at the outer edges,
    a space as the column divider (three spaces between columns), one rule of the full width under the
    header. tests/test_render.py compares the two on many tables."""
    from rich.cells import cell_len

    cells = [table.columns] + [[_cell(c) for c in row] for row in table.rows]
    if any(not text.isprintable() for row in cells for text in row):
        return None  # newlines, tabs, control characters: rich's own layout
    widths = [max(cell_len(text) for text in column) for column in zip(*cells)]
    total = sum(widths) + 3 * (len(widths) - 1)
    if total > width:
        return None

    def line(row: Sequence[str]) -> str:
        parts = [(text + " " * (w - cell_len(text))) if align == "l" else (" " * (w - cell_len(text)) + text)
                 for text, w, align in zip(row, widths, table.alignments())]
        return "   ".join(parts).rstrip()

    body = [line(cells[0]), "─" * total] + [line(row) for row in cells[1:]]
    return "\n".join(text for text in body if text.strip())


def _rich(table: Table, width: int) -> str:
    direct = _unwrapped_rich_layout(table, width)
    if direct is not None:
        return direct
    return _rich_table(table, width)


def _rich_table(table: Table, width: int) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name, align in zip(table.columns, table.alignments()):
        out.add_column(Text(name), justify="left" if align == "l" else "right", overflow="fold")
    for row in table.rows:
        out.add_row(*(Text(_cell(c)) for c in row))
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False,
            emoji=False, markup=False).print(out)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines() if line.strip())


def _rich_available() -> bool:
    try:
        import rich.table  # noqa: F401
    except ImportError:
        return False
    return True


def to_text(tables: Iterable[Table], width: int | None = None, use_rich: bool | None = None) -> str:
    """Terminal tables: rich's layout (cells wrap, nothing is cut) when rich is importable, else plain."""
    use_rich = _rich_available() if use_rich is None else use_rich
    width = width or terminal_width()
    parts = []
    for table in tables:
        body = _rich(table, width) if use_rich and table.columns else _plain(table)
        parts.append("\n".join(filter(None, [table.title, body, table.note])))
    return "\n\n".join(parts)


def _md_escape(cell: Any) -> str:
    return _cell(cell).replace("|", "\\|").replace("\n", " ")


def md_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], align: Sequence[str] | None = None) -> list[str]:
    """A GitHub Markdown table as lines."""
    align = align or ["l"] + ["r"] * (len(columns) - 1)
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return (["| " + " | ".join(_md_escape(c) for c in columns) + " |", rule]
            + ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows])


def to_markdown(tables: Iterable[Table]) -> str:
    parts = []
    for table in tables:
        lines = [f"**{table.title}**", ""] if table.title else []
        lines += md_table(table.columns, table.rows, table.alignments())
        if table.note:
            lines += ["", table.note]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def to_json(tables: Iterable[Table], **extra: Any) -> str:
    """One JSON document: {"tables": [{"title", "columns", "rows": [{column: value}]}], ...extra}."""
    doc = {"tables": [{"title": t.title, "columns": t.columns, "rows": t.records(), "note": t.note} for t in tables]}
    doc.update(extra)
    return json.dumps(doc, indent=1, default=str, allow_nan=False)


def render(tables: Sequence[Table], output_format: str = "text", width: int | None = None) -> str:
    """The tables in one of FORMATS."""
    if output_format == "md":
        return to_markdown(tables)
    if output_format == "json":
        return to_json(tables)
    if output_format == "text":
        return to_text(tables, width)
    raise ValueError(f"unknown format {output_format!r}; use one of {', '.join(FORMATS)}")


def add_format_option(parser: Any, default: str = "text") -> None:
    """`--format text|md|json` for a command whose output is a table."""
    parser.add_argument("--format", choices=FORMATS, default=default, dest="output_format",
                        help=f"text for a terminal (default {default}), md for a job summary or PR comment, "
                             "json for scripts")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """One terminal table in the house style (kept for callers that build rows themselves)."""
    return to_text([Table(list(headers), [list(r) for r in rows])])


# --- the run summary `bench run` prints -------------------------------------------------------

def summary_tables(run: Mapping[str, Any]) -> list[Table]:
    summary = run.get("summary") or {}
    tables = []
    tpp = summary.get("effective_tpp") or {}
    rows = [[dtype, e["tops"], e["bit_length"], e["tpp"], shape_label(e["measurement_id"])]
            for dtype, e in (tpp.get("by_dtype") or {}).items()]
    if rows:
        tables.append(Table(["dtype", "TFLOPS/TOPS", "bits", "TPP", "best shape"], rows,
                            title="GEMM peak per dtype (median of samples)", align=["l", "r", "r", "r", "l"]))
    attention = summary.get("attention_peak") or {}
    if attention:
        tables.append(Table(["dtype", "TFLOPS", "case"],
                            [[d, e["value"], shape_label(e["measurement_id"])] for d, e in attention.items()],
                            title="Attention (SDPA forward)", align=["l", "r", "l"]))
    streams = summary.get("stream") or {}
    if streams:
        tables.append(Table(["kernel", "GB/s", "array MiB", "x LLC"],
                            [[k, e["value"], (e.get("array_bytes") or 0) / 2**20, e.get("llc_multiple")]
                             for k, e in streams.items()],
                            title="Memory streams at DRAM-sized arrays (STREAM byte counting)"))
    return tables


def summary_text(run: Mapping[str, Any]) -> str:
    summary = run.get("summary") or {}
    device = run["device"]
    parts = [f"Device: {device['name']} ({device['backend']}, {device['vendor']})   run {run['run_id']}   status {run['status']}"]
    tables = summary_tables(run)
    if tables:
        parts += ["", to_text(tables)]
    tpp = summary.get("effective_tpp") or {}
    bandwidth = summary.get("effective_dram_bandwidth") or {}
    parts += ["",
              f"Effective TPP: {fmt(tpp.get('max'))} (from {tpp.get('dtype') or '-'}; a lower bound on the regulatory TPP)",
              f"Effective DRAM bandwidth: {fmt(bandwidth.get('value'))} GB/s (from {bandwidth.get('kernel') or '-'})"]
    skips = run.get("skips") or []
    failed = [m for m in run.get("measurements", []) if m["status"] != "ok"]
    if skips:
        parts.append(f"Skipped: {len(skips)} case(s), reasons in run.json")
    if failed:
        parts.append(f"FAILED correctness checks: {', '.join(m['id'] for m in failed)}")
    return "\n".join(parts)
