"""The long fuzz run: mutated inputs of every format through quant-opt's readers, in worker processes.

    python scripts/fuzz.py --per-format 20000 [--formats onnx,tflite,...] [--jobs 2] [--seed N] [--out DIR]

Prints per format the number of cases, accepted inputs (ok), clean errors, crashes, hangs (no answer within
the timeout), memory blowups (over the address-space limit) and the peak RSS of a case; failing cases are
saved with their tracebacks under --out. Exit status 1 if any case crashed, hung or blew up memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(REPO / "tests")  # the harness is the package tests/fuzz; this script's folder is not needed

from fuzz.campaign import MEMORY_LIMIT, TIMEOUT, run_campaign  # noqa: E402
from fuzz.formats import all_formats  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--per-format", type=int, default=20000, help="cases per format (default 20000)")
    parser.add_argument("--formats", default=",".join(all_formats()), help="comma-separated (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed; cases are a function of it")
    parser.add_argument("--out", type=Path, default=Path("fuzz-results"), help="where failing cases are saved")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per case before it is a hang")
    parser.add_argument("--memory-gib", type=float, default=MEMORY_LIMIT / 2**30, help="address-space limit")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the workers")
    parser.add_argument("--no-big", action="store_true", help="leave out the MobileNetV2 seeds")
    args = parser.parse_args(argv)

    formats = [f for f in args.formats.split(",") if f]
    unknown = set(formats) - set(all_formats())
    if unknown:
        parser.error(f"unknown formats {sorted(unknown)} (known: {', '.join(all_formats())})")
    start = time.monotonic()
    last = [start]

    def progress(done: int, total: int, result) -> None:
        if time.monotonic() - last[0] > 30:
            last[0] = time.monotonic()
            print(f"  {done}/{total} cases, {done / (last[0] - start):.1f}/s", flush=True)

    report = run_campaign(formats, args.per_format, jobs=args.jobs, campaign_seed=args.seed, big=not args.no_big,
                          out_dir=args.out, timeout=args.timeout, memory_limit=int(args.memory_gib * 2**30),
                          nice=args.nice, progress=progress)
    print(report.format_table())
    signatures = {}
    for r in report.failures:
        signatures.setdefault(r.signature, []).append(r)
    for (name, error, where), results in sorted(signatures.items()):
        print(f"{name}: {len(results)} x {results[0].outcome} {results[0].error} at {where or '?'} "
              f"(first: case {results[0].index})")
    if report.failed:
        print(f"failing cases saved under {args.out}/")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
