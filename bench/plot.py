#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Turn flashmap benchmark JSON (one object per line) into PNG plots.

    bench/plot.py [--out DIR] FILE.jsonl [FILE.jsonl ...]

Reads the records of `flashmap-bench --json` (one per contender, operation,
shape, table size and thread count) and of `flashmap-bench-mpi --json` (one
per operation and rank count) and writes, for whatever the files contain:

  threads-<K>x<V>.png  Mkeys/s against threads, flashmap beside its peers,
                       one panel per operation (largest table size of the shape)
  keys-<K>x<V>.png     Mkeys/s against keys per batch (= table size), per
                       contender, when the files hold several sizes
  mpi-ranks.png        distributed Mkeys/s and efficiency against ranks, one
                       line per operation and keys-per-rank (weak scaling) or
                       total-keys (strong scaling) series

Prints the name of every file it writes. Exits 1 when the input holds no
record it knows.
"""
import argparse
import collections
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

OP_ORDER = ["insert", "get", "get_mix", "add_u64", "remove"]
COLOURS = {"flashmap": "#c0392b", "libcuckoo": "#2874a6", "tbb": "#7d3c98", "absl": "#229954"}


def load(paths):
    maps, mpi = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"plot.py: {path}:{number}: not JSON: {e}")
                if rec.get("bench") == "mpi":
                    mpi.append(rec)
                elif "contender" in rec and rec.get("contender") != "limit" and "mkeys_per_s" in rec:
                    maps.append(rec)
    return maps, mpi


def ops_of(records):
    present = {r["op"] for r in records}
    return [op for op in OP_ORDER if op in present] + sorted(present - set(OP_ORDER))


def panels(n):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(path)
    return path


def plot_against(maps, out, axis):
    """One figure per shape: Mkeys/s against `axis` ("threads" or "keys"),
    one panel per operation, one line per contender. The other variable is
    held at its largest value (largest table, most threads)."""
    other = "keys" if axis == "threads" else "threads"
    written = []
    by_shape = collections.defaultdict(list)
    for r in maps:
        by_shape[(r["key_size"], r["value_size"])].append(r)
    for (ks, vs), recs in sorted(by_shape.items()):
        if axis == "keys" and len({r["keys"] for r in recs}) < 2:
            continue
        held = max(r[other] for r in recs)
        recs = [r for r in recs if r[other] == held]
        ops = ops_of(recs)
        fig, axes = panels(len(ops))
        for ax, op in zip(axes, ops):
            series = collections.defaultdict(dict)
            for r in recs:
                if r["op"] == op:
                    series[r["contender"]][r[axis]] = r["mkeys_per_s"]
            for name, points in sorted(series.items(), key=lambda kv: kv[0] != "flashmap"):
                xs = sorted(points)
                ax.plot(xs, [points[x] for x in xs], marker="o", label=name, color=COLOURS.get(name))
            if axis == "keys":
                ax.set_xscale("log", base=2)
            else:
                ax.set_xticks(sorted({x for p in series.values() for x in p}))
            ax.set_title(op)
            ax.set_xlabel("threads" if axis == "threads" else "keys per batch")
            ax.set_ylabel("Mkeys/s")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        held_text = f"{held:,} keys per batch" if other == "keys" else f"{held} thread(s)"
        fig.suptitle(f"{ks}-byte keys, {vs}-byte values, {held_text}", fontsize=10)
        written.append(save(fig, out, f"{axis}-{ks}x{vs}.png"))
    return written


def plot_mpi(mpi, out):
    if not mpi:
        return []
    # A series is weak scaling (the same keys per rank) or strong scaling
    # (the same total, split over the ranks); records say which ("scaling",
    # from flashmap-bench-mpi --total), older ones are taken as weak.
    series = collections.defaultdict(dict)
    for r in mpi:
        if r.get("scaling") == "strong":
            total = r["keys_per_rank"] * r["ranks"]
            total = round(total, -(len(str(total)) - 2))  # 3,999,999 of 4,000,000 split over 3 ranks
            label = f"{r['op']}, strong: {total:,} keys in all"
        else:
            label = f"{r['op']}, weak: {r['keys_per_rank']:,} keys/rank"
        series[label][r["ranks"]] = r
    fig, (rate_ax, eff_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, points in sorted(series.items()):
        xs = sorted(points)
        rate_ax.plot(xs, [points[x]["mkeys_per_s"] for x in xs], marker="o", label=label)
        eff_ax.plot(xs, [points[x]["efficiency"] for x in xs], marker="o", label=label)
    ranks = sorted({r["ranks"] for r in mpi})
    for ax, title, ylabel in ((rate_ax, "MPI map throughput", "Mkeys/s (all ranks)"),
                              (eff_ax, "efficiency: (exchange + local) / distributed", "efficiency")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("ranks")
        ax.set_ylabel(ylabel)
        ax.set_xticks(ranks)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    eff_ax.axhline(0.67, color="grey", linestyle="--", linewidth=1)
    rate_ax.legend(fontsize=7)
    return [save(fig, out, "mpi-ranks.png")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="bench/plots", help="directory for the PNG files")
    parser.add_argument("files", nargs="+", help="JSON-lines files from flashmap-bench / flashmap-bench-mpi")
    args = parser.parse_args()
    maps, mpi = load(args.files)
    if not maps and not mpi:
        sys.exit("plot.py: no flashmap-bench or flashmap-bench-mpi records in the input")
    os.makedirs(args.out, exist_ok=True)
    written = plot_against(maps, args.out, "threads") + plot_against(maps, args.out, "keys") + plot_mpi(mpi, args.out)
    if not written:
        sys.exit("plot.py: nothing to plot")


if __name__ == "__main__":
    main()
