"""The report renderers alone (no platform, no database), on synthetic rows:

- XLSX streaming: the peak memory (tracemalloc, started after the document
  is built) of 1,000 x 20 cells and of 10 x as many rows; flat memory gives
  a ratio of about 1. Speed as a ratio against the floor of XlsxWriter
  writing the same typed cells with no document around them, in the same run.
- PDF: a class's summary sheet (30 students x 16 subjects, landscape, a
  chart), goal ≤ 1 s, and 1,000 rows of a portrait list (about 25 pages).

    .venv/bin/python -m bench.render [--rows 1000] [--columns 20] [--factor 10] [--rounds 3]

Times are medians of ``--rounds`` runs without tracemalloc (it slows Python
several times)."""
from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "services", "reports", "tests"))

import xlsxwriter  # noqa: E402

from render_samples import big, long_portrait, wide_landscape  # noqa: E402
from reports.render import render, render_xlsx_to  # noqa: E402


def median_seconds(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def xlsx_peak(report) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "out.xlsx")
        tracemalloc.start()
        with open(path, "wb") as out:
            render_xlsx_to(report, out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak / 2**20, os.path.getsize(path)


def floor_xlsx(report) -> None:
    """XlsxWriter alone: the same cells with their types, no widths, no summary sheet."""
    table = report["document"]["sections"][0]["table"]
    wb = xlsxwriter.Workbook(io.BytesIO(), {"constant_memory": True})
    ws = wb.add_worksheet("Данные")
    fmt = {"number": wb.add_format({"num_format": "0.00"}), "percent": wb.add_format({"num_format": "0.0%"}),
           "date": wb.add_format({"num_format": "DD.MM.YYYY"}), "int": wb.add_format({"num_format": "0"})}
    columns = table["columns"]
    for c, column in enumerate(columns):
        ws.write_string(0, c, column["title"])
    for r, row in enumerate(table["rows"], start=1):
        for c, column in enumerate(columns):
            value, kind = row[column["key"]], column["type"]
            if kind == "text":
                ws.write_string(r, c, value)
            elif kind == "date":
                ws.write_datetime(r, c, dt.date.fromisoformat(value), fmt["date"])
            elif kind == "percent":
                ws.write_number(r, c, value / 100, fmt["percent"])
            else:
                ws.write_number(r, c, value, fmt[kind])
    wb.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    render(big(50, args.columns), "xlsx")  # imports and caches outside the figures
    render(wide_landscape(5), "pdf")
    small, large = big(args.rows, args.columns), big(args.rows * args.factor, args.columns)

    print(f"load: {os.getloadavg()[0]:.2f}")
    print(f"XLSX ({args.columns} columns)  {'peak MiB':>9} {'file KiB':>9} {'s':>7} {'floor s':>8} {'ratio':>6}")
    peaks = []
    for rows, report in ((args.rows, small), (args.rows * args.factor, large)):
        peak, size = xlsx_peak(report)
        peaks.append(peak)
        seconds = median_seconds(lambda: render(report, "xlsx"), args.rounds)
        floor = median_seconds(lambda: floor_xlsx(report), args.rounds)
        print(f"  {rows:>7} rows          {peak:>9.2f} {size / 1024:>9.0f} {seconds:>7.2f} {floor:>8.2f} "
              f"{seconds / floor:>6.2f}")
    print(f"  peak ratio {args.factor}x rows / 1x rows: {peaks[1] / peaks[0]:.2f} (flat memory is about 1)")

    sheet, listing = wide_landscape(30), long_portrait(1000)
    print("PDF                            pages      s")
    for label, report in (("class summary sheet 30 x 16", sheet), ("list of 1,000 rows", listing)):
        data = render(report, "pdf")
        seconds = median_seconds(lambda: render(report, "pdf"), args.rounds)
        pages = data.count(b"/Type /Page\n") or data.count(b"/Type /Page")
        print(f"  {label:<28} {pages:>5} {seconds:>6.2f}")


if __name__ == "__main__":
    main()
