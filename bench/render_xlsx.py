"""XLSX streaming sanity: the memory a report's spreadsheet costs to write
should not grow with its rows (openpyxl write-only mode writes each row out
as it comes). Renders 1,000 x 20 and 10 x as many rows of the same columns,
each with tracemalloc started after the document is built, and prints the
peaks, their ratio (flat is about 1) and the rows per second of each
(timed in a run without tracemalloc, which slows Python down several times).

    .venv/bin/python -m bench.render_xlsx [--rows 1000] [--columns 20] [--factor 10]

No platform, no database: the renderer alone on synthetic rows."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "services", "reports", "tests"))

from render_samples import big  # noqa: E402
from reports.render import render_xlsx_to  # noqa: E402


def measure(rows: int, columns: int) -> tuple[float, float, int]:
    """(peak MiB under tracemalloc, seconds of an untraced run, file bytes)."""
    report = big(rows, columns)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "out.xlsx")
        started = time.perf_counter()
        with open(path, "wb") as out:
            render_xlsx_to(report, out)
        seconds = time.perf_counter() - started
        size = os.path.getsize(path)
        tracemalloc.start()
        with open(path, "wb") as out:
            render_xlsx_to(report, out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 2**20, seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--factor", type=int, default=10)
    args = parser.parse_args()
    measure(50, args.columns)  # imports and caches outside the figures
    small = measure(args.rows, args.columns)
    large = measure(args.rows * args.factor, args.columns)
    print(f"load: {os.getloadavg()[0]:.2f}")
    print(f"{'rows':>8} {'peak MiB':>9} {'seconds':>8} {'rows/s':>9} {'file KiB':>9}")
    for rows, (peak, seconds, size) in ((args.rows, small), (args.rows * args.factor, large)):
        print(f"{rows:>8} {peak:>9.2f} {seconds:>8.2f} {rows / seconds:>9.0f} {size / 1024:>9.0f}")
    print(f"peak ratio {args.factor}x rows / 1x rows: {large[0] / small[0]:.2f} (flat memory is about 1)")


if __name__ == "__main__":
    main()
