"""Benchmarks behind `ulearn bench` / `make bench`: each module's run(args) prints and returns results."""
