"""Run every benchmark (each in its own process), print a summary table and write bench/out/results.json.

    .venv/bin/python bench/run_all.py            # extract mix, ingest N=1,000, latency 200 bids, memory 100/1,000, evaluation
    .venv/bin/python bench/run_all.py --quick    # smaller N (a couple of minutes)
    .venv/bin/python bench/run_all.py --full     # also ingest N=10,000 (several more minutes)
    .venv/bin/python bench/run_all.py --only ingest latency

No figure is asserted: the table says whether each goal was met and by how much it was missed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import machine_info, machine_line  # noqa: E402

NAMES = ("extract", "ingest", "latency", "memory", "evaluation", "startup")


def plan(quick: bool, full: bool) -> list[tuple[str, str, list[str], int]]:
    """(name, script, args, timeout seconds) for each run."""
    if quick:
        ingest, lat, mem, procs = [200], 50, ["100"], 20
    else:
        ingest, lat, mem, procs = ([1000, 10000] if full else [1000]), 200, ["100", "1000"], 100
    runs = [("extract", "bench_extract.py", ["--rounds", "1" if quick else "2", "--repeat", "3" if quick else "5"], 600)]
    runs += [("ingest", "bench_ingest.py", ["--n", str(n)], 600 + n // 5) for n in ingest]
    runs.append(("latency", "bench_latency.py", ["--n", str(lat)], 120 + lat * 2))
    runs.append(("memory", "bench_memory.py", ["--batches", *mem], 900))
    runs.append(("evaluation", "bench_evaluation.py", ["--procurements", str(procs)], 600))
    runs.append(("startup", "bench_startup.py", ["--rounds", "5" if quick else "9"], 600))
    return runs


def run_one(script: str, args: list[str], timeout: int) -> dict:
    """Run one benchmark script; its own report streams to our stdout; returns its JSON result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    t = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, str(HERE / script), *args, "--json", str(out)], timeout=timeout)
        if proc.returncode != 0:
            return {"error": f"{script} exited with {proc.returncode}", "args": args}
        res = json.loads(out.read_text("utf-8"))
        res.pop("machine", None)
        res["args"] = args
        res["run_s"] = round(time.monotonic() - t, 1)
        return res
    except subprocess.TimeoutExpired:
        return {"error": f"{script} took longer than {timeout} s", "args": args}
    finally:
        out.unlink(missing_ok=True)


def _met(ok: bool | None) -> str:
    return "?" if ok is None else ("met" if ok else "NOT met")


def summary_rows(results: list[tuple[str, dict]]) -> list[tuple[str, str, str, str]]:
    """(benchmark, figure, goal, verdict) rows."""
    rows = []
    for name, r in results:
        if "error" in r:
            rows.append((f"{name} {' '.join(r.get('args', []))}", r["error"], "", "failed"))
            continue
        if name == "extract":
            rows.append((f"extract, {r['messages']} mixed messages", f"floor {r['floor_ms']:.2f} ms/msg; ours "
                         f"{r['ours_ms']:.2f} ms/msg (before: {r['reference_ms']:.2f})", "ours <= 2x floor",
                         f"{_met(r['goal_met'])} ({r['ratio']:.1f}x)"))
        elif name == "ingest":
            rows.append((f"ingest N={r['n']:,}", f"bare fetch {r['bare_msgs_per_s']:,.0f} msg/s; pipeline "
                         f"{r['pipeline_msgs_per_s']:,.0f} msg/s ({r['pipeline']['seconds']:.0f} s)",
                         "pipeline <= 2x bare", f"{_met(r['goal_met'])} ({r['ratio']:.0f}x)"))
        elif name == "latency":
            if not r.get("notified"):
                rows.append(("latency", "no notifications", "p95 <= IDLE floor p95 + 0.3 s", "NOT met"))
            else:
                floor = (f"; IDLE floor p50 {r['floor_p50_s']:.2f} s, p95 {r['floor_p95_s']:.2f} s "
                         f"(p95 {r['over_floor_p95_s']:+.2f} s over it)" if r.get("floor_seen") else "; no IDLE floor")
                rows.append((f"latency {r['n']} bids", f"p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s, "
                             f"max {r['max_s']:.2f} s{floor}", "p95 <= IDLE floor p95 + 0.3 s", _met(r["goal_met"])))
        elif name == "memory":
            for c in r["cases"]:
                rows.append((f"memory: {c['case']}", f"peak RSS {c['peak_mb']:.0f} MB", "< 200 MB",
                             _met(c["peak_mb"] < 200)))
        elif name == "evaluation":
            s, m = r["seven_parts"], r["many"]
            rows.append(("evaluation 7x25 bids", f"results {s['results_warm_s']:.3f} s; protocol xlsx+pdf+png "
                         f"{s['report_cold_s']:.1f} s", "(no goal)", "-"))
            rows.append((f"evaluation {m['procurements']} procurements", f"results() each: total {m['total_s']:.2f} s, "
                         f"mean {m['mean_ms']:.1f} ms", "(no goal)", "-"))
        elif name == "startup":
            for cmd, c in r["commands"].items():
                rows.append((f"cold start: hankebot {'--help' if cmd == 'help' else cmd}",
                             f"{c['median_s'] * 1000:.0f} ms, {c['ratio']:.1f}x python -c pass "
                             f"({r['floor_s'] * 1000:.0f} ms)", f"<= {r['goal_s']} s", _met(c["goal_met"])))
    return rows


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller N")
    ap.add_argument("--full", action="store_true", help="also ingest N=10,000")
    ap.add_argument("--only", nargs="*", choices=NAMES, help="run only these")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "results.json")
    a = ap.parse_args(argv)
    info = machine_info()
    print(f"Machine: {machine_line(info)}", flush=True)
    started = datetime.now(timezone.utc)
    results: list[tuple[str, dict]] = []
    for name, script, args, timeout in plan(a.quick, a.full):
        if a.only and name not in a.only:
            continue
        print(f"\n== {name} {' '.join(args)} ==", flush=True)
        results.append((name, run_one(script, args, timeout)))
    rows = summary_rows(results)
    print(f"\nSummary ({machine_line(info)}):")
    print(table(rows, ("benchmark", "measured", "goal", "verdict")))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": info, "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
           "mode": "quick" if a.quick else ("full" if a.full else "default"),
           "runs": [{"name": n, **r} for n, r in results], "summary": [dict(zip(("benchmark", "measured", "goal",
                                                                               "verdict"), r)) for r in rows]}
    a.out.write_text(json.dumps(doc, indent=2, default=str), "utf-8")
    print(f"\nwritten: {a.out}")
    return 1 if any("error" in r for _, r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
