"""`bench devices`: what is present, with the properties the harness will record."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench import render
from bench.cli import common_args
from bench.devices import registry
from bench.devices.registry import BACKENDS, present


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("devices", help="list the devices present", description="List the devices present.",
                              **common_args.examples("devices"))
    common_args.add_format(p, json_help="one JSON document: the list of devices (same as --format json)")
    return p


DEVICE_COLUMNS = ["device", "vendor", "name", "memory MiB", "compute units", "architecture", "L2 MiB", "LLC MiB",
                  "driver", "runtime", "torch", "uuid"]


def device_infos() -> list[dict[str, Any]]:
    infos = []
    for name, count in present().items():
        for index in range(count):
            infos.append(BACKENDS[name](None if name == "cpu" else index).info().to_dict())
    return infos


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def run(args: argparse.Namespace) -> int:
    output_format = common_args.output_format(args)
    infos = device_infos()
    if output_format == "json":
        print(json.dumps(infos, indent=1, default=str))
        return 0
    rows = [[i["torch_device"], i["vendor"], i["name"], _mib(i["memory_bytes"]),
             f"{i['compute_units'] or '-'} {i['compute_unit_kind'] or ''}".strip(), i["architecture"] or "-",
             _mib(i["l2_cache_bytes"]), _mib(i["last_level_cache_bytes"]), i["driver_version"] or "-",
             i["runtime_version"] or "-", i["torch_version"], (i.get("extra") or {}).get("uuid") or "-"] for i in infos]
    table = render.Table(DEVICE_COLUMNS, rows, align=["l", "l", "l", "r", "r", "l", "r", "r", "l", "l", "l", "l"])
    if all(i["backend"] == "cpu" for i in infos):
        table.note = registry.fallback_reason(registry.hardware_signs(), registry.torch_build())
    common_args.print_tables([table], output_format)
    return 0
