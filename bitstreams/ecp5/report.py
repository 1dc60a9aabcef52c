"""Writes REPORT.md and report.json from an ECP5 build's work directory (build.sh calls it).

Reads what the tools wrote: nextpnr-ecp5's --report JSON of each placer seed (maximum frequency
per clock, utilisation, critical paths), yosys's cell statistics, the configuration's capacity
(fpga_verilog), the tool versions and the step times. Prints the seed whose Fmax is the median,
whose bitstream build.sh then packs. Nothing here is measured or estimated by this script: every
figure in the report is one a tool printed.
"""

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys

# The acceptance threshold and the aim of issue 8, in MHz.
REQUIRED_MHZ = 125.0
AIMED_MHZ = 150.0

DEVICE = "LFE5UM5G-85F, speed grade 8, CABGA381 (ECP5-5G Versa board)"

# nextpnr's resource names, in the report's words.
RESOURCES = [
    ("TRELLIS_COMB", "LUT4 / carry logic cells (TRELLIS_COMB)"),
    ("TRELLIS_FF", "flip-flops (TRELLIS_FF)"),
    ("MULT18X18D", "18×18 multipliers (MULT18X18D)"),
    ("DP16KD", "18-kbit block RAMs (DP16KD)"),
    ("TRELLIS_RAMW", "distributed-RAM write ports (TRELLIS_RAMW)"),
    ("TRELLIS_IO", "I/O pins (TRELLIS_IO)"),
    ("DCCA", "global clock buffers (DCCA)"),
]


def fail(message):
    print(f"report.py: {message}", file=sys.stderr)
    sys.exit(1)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e}")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def clock_name(net):
    """nextpnr's name of the clock net, e.g. `$glbnet$clk$TRELLIS_IO_IN`, as the pin `clk`."""
    match = re.match(r"^\$glbnet\$(.+?)\$TRELLIS_IO_IN$", net)
    return match.group(1) if match else net


def step_times(work):
    times = {}
    for line in read_text(os.path.join(work, "times.tsv")).splitlines():
        name, seconds = line.split("\t")
        times[name] = float(seconds)
    return times


def synth_cells(work):
    """yosys's cell counts of the synthesised netlist (stat on the top module)."""
    cells = {}
    for line in read_text(os.path.join(work, "synth_stat.txt")).splitlines():
        match = re.match(r"^\s+(\d+)\s+([A-Z][A-Z0-9_]+)\s*$", line)
        if match:
            cells[match.group(2)] = int(match.group(1))
    return cells


def module_at(lines, number):
    """The Verilog module that line `number` of the engine's Verilog belongs to."""
    for i in range(min(number, len(lines)) - 1, -1, -1):
        match = re.match(r"^module (\S+?)\(", lines[i])
        if match:
            return match.group(1)
    return "?"


def summarise_path(path, engine_lines):
    """Total, logic and routing delay of a critical path, its ends, and the engine modules its
    nets were written in (from the `engine.v:LINE` sources nextpnr names)."""
    logic = sum(hop["delay"] for hop in path if hop["type"] != "routing")
    routing = sum(hop["delay"] for hop in path if hop["type"] == "routing")
    modules = []
    nets = []
    source_lines = []
    for hop in path:
        if hop["type"] != "routing":
            continue
        nets.append({"net": hop.get("net", "?"), "delay_ns": round(hop["delay"], 3)})
        for source in hop.get("sources", []):
            match = re.match(r"^engine\.v:(\d+)\.", source)
            if match:
                number = int(match.group(1))
                module = module_at(engine_lines, number)
                if module not in modules:
                    modules.append(module)
                text = engine_lines[number - 1].strip() if number <= len(engine_lines) else "?"
                line = {"line": number, "module": module, "text": text[:160]}
                if line not in source_lines:
                    source_lines.append(line)
    return {
        "from": path[0]["from"]["cell"] if path else "?",
        "to": path[-1]["to"]["cell"] if path else "?",
        "delay_ns": round(logic + routing, 3),
        "logic_ns": round(logic, 3),
        "routing_ns": round(routing, 3),
        "hops": len(nets),
        "engine_modules": modules,
        "engine_lines": source_lines,
        "nets": nets,
    }


def git_source(root):
    def git(*args):
        result = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--", "hdl", "bitstreams/ecp5")
    return {"commit": commit, "hdl_or_flow_modified": bool(dirty)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--freq", type=float, required=True)
    parser.add_argument("--seeds", required=True)
    parser.add_argument("--router", required=True)
    parser.add_argument("--synth-only", action="store_true")
    parser.add_argument("--bitstream")
    args = parser.parse_args()
    work = args.work
    seeds = [int(s) for s in args.seeds.split()]

    capacity = read_json(os.path.join(work, "capacity.json"))
    engine_lines = read_text(os.path.join(work, "engine.v")).splitlines()
    versions = {"yosys": read_text(os.path.join(work, "yosys.version")).strip()}
    if not args.synth_only:
        for tool in ["nextpnr", "ecppack"]:
            text = read_text(os.path.join(work, f"{tool}.version")).strip()
            versions[tool] = text.splitlines()[-1] if text else "?"
    versions["packages"] = read_text(os.path.join(work, "packages.txt")).split("\n")[:-1]
    runs = []
    if not args.synth_only:
        for seed in seeds:
            pnr = read_json(os.path.join(work, f"pnr-{seed}.json"))
            fmax = {
                clock_name(net): {
                    "achieved_mhz": round(v["achieved"], 2),
                    "constraint_mhz": v["constraint"],
                }
                for net, v in pnr.get("fmax", {}).items()
            }
            if not fmax:
                fail(f"pnr-{seed}.json reports no clock")
            paths = []
            for critical in pnr.get("critical_paths", []):
                summary = summarise_path(critical.get("path", []), engine_lines)
                summary["clocks"] = f'{critical.get("from", "?")} -> {critical.get("to", "?")}'
                paths.append(summary)
            runs.append({"seed": seed, "fmax": fmax, "utilization": pnr["utilization"],
                         "critical_paths": paths})

    result = {
        "device": DEVICE,
        "config": capacity,
        "target_mhz": args.freq,
        "router": args.router,
        "required_mhz": REQUIRED_MHZ,
        "aimed_mhz": AIMED_MHZ,
        "source": git_source(args.root),
        "engine_verilog_sha256": sha256(os.path.join(work, "engine.v")),
        "harness_verilog_sha256": sha256(os.path.join(work, "harness.v")),
        "versions": versions,
        "seconds": step_times(work),
        "synthesis_cells": synth_cells(work),
        "runs": runs,
    }
    median_seed = None
    if runs:
        clocks = sorted(runs[0]["fmax"])
        summary = {}
        for clock in clocks:
            values = sorted(run["fmax"][clock]["achieved_mhz"] for run in runs)
            summary[clock] = {
                "min_mhz": values[0],
                "median_mhz": round(statistics.median(values), 2),
                "max_mhz": values[-1],
                "seeds": len(values),
            }
        result["fmax_summary"] = summary
        # The engine's clock decides; pick the run whose Fmax is the (lower) median.
        main_clock = clocks[0]
        ordered = sorted(runs, key=lambda run: run["fmax"][main_clock]["achieved_mhz"])
        median_run = ordered[(len(ordered) - 1) // 2]
        median_seed = median_run["seed"]
        result["bitstream_seed"] = median_seed
        result["utilization"] = {
            name: {
                "used": median_run["utilization"][name]["used"],
                "available": median_run["utilization"][name]["available"],
                "percent": round(100.0 * median_run["utilization"][name]["used"]
                                 / median_run["utilization"][name]["available"], 1),
            }
            for name, _ in RESOURCES if name in median_run["utilization"]
        }
    result["fits"] = fit_problems(result["synthesis_cells"])
    if args.bitstream:
        path = os.path.join(work, args.bitstream)
        result["bitstream"] = {"file": os.path.basename(path), "bytes": os.path.getsize(path),
                               "sha256": sha256(path)}

    with open(os.path.join(args.out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    with open(os.path.join(args.out, "REPORT.md"), "w", encoding="utf-8") as f:
        use_analysis = args.config in ("ecp5", "ecp5-one-lane") and os.path.exists(analysis)
        f.write(markdown(result, read_text(analysis) if use_analysis else None))
    if result["fits"]:
        fail("the synthesised design does not fit the device: " + "; ".join(result["fits"]))
    if median_seed is not None:
        print(median_seed)


# What the LFE5UM5G-85F has (as nextpnr-ecp5 reports it), for the check after synthesis.
DEVICE_CELLS = {"MULT18X18D": 156, "DP16KD": 208, "TRELLIS_FF": 83640}
DEVICE_LUT4 = 83640


def fit_problems(cells):
    """Why yosys's netlist cannot fit the device, if it cannot: more multipliers, block RAMs or
    flip-flops than the device has, or more LUT4s than it has, counting each carry cell (CCU2C)
    as two LUT4s and each distributed RAM (TRELLIS_DPR16X4) as the four its slices hold."""
    problems = []
    for name, available in DEVICE_CELLS.items():
        if cells.get(name, 0) > available:
            problems.append(f"{cells[name]} {name}, the device has {available}")
    luts = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 4 * cells.get("TRELLIS_DPR16X4", 0)
    if luts > DEVICE_LUT4:
        problems.append(f"{luts} LUT4 equivalents, the device has {DEVICE_LUT4}")
    if cells.get("LUT4", 0) == 0:
        problems.append("no LUT4 at all: synthesis produced no ECP5 netlist")
    return problems


def markdown(r, analysis):
    c = r["config"]
    lines = [
        "# FPGA build report",
        "",
        "Generated by `bash bitstreams/ecp5/build.sh` (`bitstreams/ecp5/report.py`) from what "
        "the tools printed; do not edit. How the build works: docs/hardware.md, \"FPGA builds\".",
        "",
        f"- Device: {r['device']}",
        f"- Configuration `{c['config']}`: {c['lanes']} lane{'s' if c['lanes'] != 1 else ''} × {c['accounts_per_lane']:,} "
        f"account slots and {c['positions_per_lane']:,} position slots "
        f"({c['lanes'] * c['accounts_per_lane']:,} accounts, "
        f"{c['lanes'] * c['positions_per_lane']:,} positions), {c['instruments']} instruments",
        f"- Timed against {r['target_mhz']:g} MHz (required: {r['required_mhz']:g} MHz, "
        f"aim: {r['aimed_mhz']:g} MHz); nextpnr's {r['router']}",
        f"- Source: commit `{r['source']['commit']}`"
        + (" with local changes to hdl/ or bitstreams/ecp5/" if r["source"]["hdl_or_flow_modified"]
           else ""),
        f"- Engine Verilog sha256 `{r['engine_verilog_sha256']}`",
        "",
    ]
    if "fmax_summary" in r:
        lines += ["## Maximum frequency", ""]
        for clock, s in r["fmax_summary"].items():
            lines += [
                f"Clock `{clock}` over {s['seeds']} placer seeds: **min {s['min_mhz']} MHz, "
                f"median {s['median_mhz']} MHz, max {s['max_mhz']} MHz**.",
                "",
            ]
            low = s["min_mhz"]
            if low >= r["required_mhz"]:
                verdict = f"Every seed meets the required {r['required_mhz']:g} MHz."
            else:
                short = r["required_mhz"] - s["median_mhz"]
                verdict = (
                    f"Short of the required {r['required_mhz']:g} MHz: the median misses it by "
                    f"{short:.1f} MHz ({100 * short / r['required_mhz']:.0f}%); the analysis "
                    "below says why."
                    if short > 0 else
                    f"The median meets {r['required_mhz']:g} MHz, but not every seed does.")
            lines += [verdict, "", "| seed | " + " | ".join(f"`{k}` MHz" for k in r["fmax_summary"])
                      + " | place and route (s) |", "|---|" + "---|" * (len(r["fmax_summary"]) + 1)]
            break
        for run in r["runs"]:
            cells = " | ".join(f"{run['fmax'][k]['achieved_mhz']}" for k in r["fmax_summary"])
            seconds = r["seconds"].get(f"pnr-{run['seed']}", 0)
            lines.append(f"| {run['seed']} | {cells} | {seconds:.0f} |")
        lines += ["", f"The bitstream is the one of seed {r['bitstream_seed']} (the median).", ""]

        lines += ["## Resources", "", "| resource | used | available | % |", "|---|---|---|---|"]
        for name, words in RESOURCES:
            if name in r["utilization"]:
                u = r["utilization"][name]
                lines.append(f"| {words} | {u['used']:,} | {u['available']:,} | {u['percent']} |")
        lines += [""]
    lines += ["Cells after synthesis (yosys `stat`): "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(r["synthesis_cells"].items())), ""]

    if r["runs"]:
        lines += ["## Critical paths", "",
                  "As nextpnr-ecp5 names them for each seed (cell and net names are yosys's, "
                  "derived from the engine's Verilog; `engine.` is the engine inside the harness).",
                  ""]
        for run in r["runs"]:
            for p in run["critical_paths"]:
                if not p["clocks"].startswith("posedge") or "<async>" in p["clocks"]:
                    continue
                lines += [
                    f"- Seed {run['seed']}: {p['delay_ns']} ns ({p['logic_ns']} ns logic, "
                    f"{p['routing_ns']} ns routing, {p['hops']} nets) from `{p['from']}` to "
                    f"`{p['to']}`; through modules "
                    + ", ".join(f"`{m}`" for m in p["engine_modules"]),
                ]
                for line in p["engine_lines"]:
                    lines.append(f"  - engine.v:{line['line']} (`{line['module']}`): "
                                 f"`{line['text']}`")
        lines += [""]

    lines += ["## Run", "", "| step | seconds |", "|---|---|"]
    for name, seconds in r["seconds"].items():
        lines.append(f"| {name} | {seconds:.0f} |")
    lines += ["", "Tools: " + "; ".join(
        [v for k, v in sorted(r["versions"].items()) if k != "packages"]),
        "", "Packages: " + ", ".join(" ".join(p.split()) for p in r["versions"]["packages"]), ""]
    if "bitstream" in r:
        b = r["bitstream"]
        lines += [f"Bitstream: `bitstreams/{b['file']}`, {b['bytes']:,} bytes, sha256 "
                  f"`{b['sha256']}`.", ""]
    if analysis:
        lines += [analysis.rstrip(), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
