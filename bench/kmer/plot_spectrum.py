#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Plot a k-mer spectrum (the output of `flashmap-kmer histo`) as a PNG.

    plot_spectrum.py HISTO PNG [TITLE]

x: how often a k-mer occurs (its count); y: how many distinct k-mers have
that count, on a log scale. Sequencing errors make the peak at count 1; the
genome's k-mers make the peak near the coverage."""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    counts, kmers = [], []
    with open(sys.argv[1]) as f:
        for line in f:
            c, n = line.split()
            counts.append(int(c))
            kmers.append(int(n))
    title = sys.argv[3] if len(sys.argv) > 3 else "k-mer spectrum"
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(counts, kmers, width=1.0, color="#3b6ea8")
    ax.set_yscale("log")
    ax.set_xlim(0, min(max(counts) + 1, 120) if counts else 10)
    ax.set_xlabel("count (times a k-mer occurs)")
    ax.set_ylabel("distinct k-mers with that count")
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="major", axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
