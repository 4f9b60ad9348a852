"""`python -m sandbox --port N [--host H] [--config FILE.json]`: run the provider sandbox."""

from __future__ import annotations

import argparse
import json
import sys

from sandbox.app import run
from sandbox.config import build


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument("--config", help="JSON file keyed by provider name")
    args = parser.parse_args(argv)
    config = None
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as fh:
                config = json.load(fh)
            build(config)
        except (OSError, ValueError) as exc:
            print(f"sandbox: bad --config: {exc}", file=sys.stderr)
            return 2
    run(args.host, args.port, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
