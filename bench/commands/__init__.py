"""One module per `bench` sub-command. Each exposes `add_parser(subparsers)` and `run(args) -> int`.

To add a command: write bench/commands/<name>.py and add its name to COMMANDS.
"""

COMMANDS = ["run", "devices", "doctor", "keygen", "sign", "verify", "fleet", "specs", "profiles", "check", "report",
            "compare"]
