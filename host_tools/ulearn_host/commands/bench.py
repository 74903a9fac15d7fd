"""`ulearn bench TOPIC`: run benchmarks and print measured ratios (never pass/fail on time)."""

from __future__ import annotations

import argparse
import importlib

from ..errors import UlearnError

# topic -> modules in ulearn_host.bench, each with run(args) that prints its own table
TOPICS: dict[str, list[str]] = {
    "gemm": ["gemm"],
    "nn": ["nn_speed", "nn_accuracy"],
    "features": ["features"],
    "svm": ["svm"],
    "sensors": ["sensors"],
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", nargs="?", default="all", choices=["all", *TOPICS],
                        help="what to measure (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (for CI smoke runs)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")


def run(args: argparse.Namespace) -> int:
    topics = list(TOPICS) if args.topic == "all" else [args.topic]
    results, failed = {}, []
    for topic in topics:
        for name in TOPICS[topic]:
            print(f"== ulearn bench {topic}: {name} ==", flush=True)
            try:
                module = importlib.import_module(f"ulearn_host.bench.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"ulearn_host.bench.{name}":
                    raise
                print(f"(not available: ulearn_host.bench.{name} is not installed)")
                failed.append(name)
                continue
            results[name] = module.run(args)
    if args.json:
        import json
        from pathlib import Path
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    if failed and args.topic != "all":
        raise UlearnError(f"benchmark {', '.join(failed)} is not available")
    return 0
