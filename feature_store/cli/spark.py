"""`featurestore fetch-jars` (registered in feature_store/cli/main.py): resolve every Maven package the Spark
session needs (Delta, hadoop-azure, and any `spark.jars.packages` of FEATURE_STORE_SPARK_CONF) into
FEATURE_STORE_IVY_DIR, so a container image fetches them at build time and starts with no network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_fetch_jars(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fetch-jars", help="fetch the Spark jars into the ivy cache", description="Resolve "
                              "Delta, hadoop-azure and their dependencies into FEATURE_STORE_IVY_DIR with a local "
                              "SparkSession (ivy's output goes to a log file there) and list the cached jars. "
                              "Later sessions start from the cache with no network.")  # fmt: skip
    p.add_argument("--ivy-dir", type=Path, help="cache directory (default: FEATURE_STORE_IVY_DIR)")
    p.add_argument("--refresh", action="store_true", help="resolve again even if every jar is cached")
    p.set_defaults(handler=run_fetch_jars)


def run_fetch_jars(args: argparse.Namespace) -> int:
    from feature_store.runtime.spark import (
        SparkSetupError,
        environment_conf,
        ivy_dir_from_env,
        maven_packages,
        resolve_jars,
    )

    ivy_dir = (args.ivy_dir or ivy_dir_from_env()).expanduser().resolve()
    try:
        extra = environment_conf().get("spark.jars.packages", "")
        packages = maven_packages([p.strip() for p in extra.split(",") if p.strip()])
        print(f"resolving {len(packages)} package(s) into {ivy_dir}...", file=sys.stderr, flush=True)
        jars = resolve_jars(packages, ivy_dir, refresh=args.refresh)
    except SparkSetupError as exc:
        print(f"featurestore fetch-jars: error: {exc}", file=sys.stderr)
        return 1
    for jar in jars:
        print(jar.removeprefix("file://"))
    print(f"{len(jars)} jar(s) cached in {ivy_dir} for {', '.join(packages)}", file=sys.stderr)
    return 0
