"""`actionstream`: one console script for the whole project; each subcommand is one of the `python -m` CLIs.

    actionstream run --source demo --jsonl            # = python -m streaming run ... (as before: `stream` implied)
    actionstream export backbone --arch smallcnn ...  # = python -m export ...
    actionstream train run --data data/synth ...      # = python -m training run ...
    actionstream dashboard --port 7860                # = python demo_app.py ...

Each CLI is imported only when asked for, so `actionstream stream` never loads TensorFlow.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand -> (module with main(argv), what it does)
COMMANDS = {
    "stream": ("streaming.cli", "run, probe and replay streams on a bundle (python -m streaming)"),
    "export": ("export.cli", "build, quantize and verify bundles (python -m export)"),
    "train": ("training.cli", "extract features, fit, evaluate, make the demo model (python -m training)"),
    "dashboard": ("demo_app", "the Gradio dashboard (python demo_app.py)"),
}
#: The streaming CLI's own subcommands, which `actionstream` accepted directly before it had the others.
STREAMING_COMMANDS = ("run", "replay")


def usage() -> str:
    lines = ["usage: actionstream {" + ",".join(COMMANDS) + "} ...", "", "commands:"]
    lines += [f"  {name:<10} {what}" for name, (_, what) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name in STREAMING_COMMANDS:
        name, rest = "stream", argv
    if name not in COMMANDS:
        print(f"{usage()}\n\nerror: unknown command {name!r}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
