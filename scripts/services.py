"""Start/stop the dev and test servers on 127.0.0.1 (see scripts/devservices.py for ports).

python scripts/services.py start|stop|status [redis|cosmos|azurite|all] [--dir .services]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The launcher sits beside this script and is stdlib-only: it works before the project is pip-installed.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import devservices as dev  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("service", nargs="?", default="all", choices=[*dev.SERVICES, "all"])
    parser.add_argument("--dir", default=".services", type=Path, help="node_modules, pid files, logs, data")
    args = parser.parse_args(argv)
    names = dev.SERVICES if args.service == "all" else (args.service,)
    rc = 0
    for name in names:
        try:
            if args.action == "start":
                svc = dev.start(name, args.dir)
                print(f"{name}: started pid {svc.pid} on {svc.url}")
            elif args.action == "stop":
                print(f"{name}: {'stopped' if dev.stop(name, args.dir) else 'not started here'}")
            else:
                print(json.dumps(dev.status(name, args.dir)))
        except dev.ServiceError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
