"""Draws the panels of deploy/grafana/moobius-host.json from a real run.

Usage (see examples/dashboard_run.rs, which writes the CSV):
    cargo run --release --example dashboard_run -- target/dashboard.csv
    python3 deploy/grafana/plot.py target/dashboard.csv docs/dashboard.png

Counters become per-second rates (their increase between two scrapes over
the time between them), as the dashboard's rate() queries show them.
Needs matplotlib.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


def rate(t, values):
    out = [0.0]
    for i in range(1, len(values)):
        dt = t[i] - t[i - 1]
        out.append(max(values[i] - values[i - 1], 0.0) / dt if dt > 0 else 0.0)
    return out


def main(src, dst):
    d = load(src)
    t = d["t"]
    p = "moobius_"
    panels = [
        ("Events received per second", [("events", rate(t, d[p + "events_received_total"]))]),
        ("Handler calls per second", [("calls", rate(t, d[p + "handler_calls_total"]))]),
        ("Handler time, mean (ms)", [("mean", [
            1000 * s / c if c else 0.0
            for s, c in zip(rate(t, d[p + "handler_duration_seconds_sum"]), rate(t, d[p + "handler_duration_seconds_count"]))
        ])]),
        ("Handler errors per second", [("errors", rate(t, d[p + "handler_errors_total"]))]),
        ("Frames sent per second", [("frames", rate(t, d[p + "frames_sent_total"]))]),
        ("Outgoing queue and frames in flight", [
            ("queue", d[p + "outbox_queue_depth"]),
            ("in flight", d[p + "frames_in_flight"]),
        ]),
        ("Group cache per second", [
            ("hits", rate(t, d[p + "group_cache_hits_total"])),
            ("misses", rate(t, d[p + "group_cache_misses_total"])),
        ]),
        ("Connection", [
            ("live", d[p + "link_state"]),
            ("reconnects", d[p + "reconnects_total"]),
        ]),
        ("Reloads", [("reloads", d[p + "reloads_total"])]),
        ("Timers pending", [("timers", d[p + "timers_pending"])]),
        ("Resident memory (MiB)", [("RSS", [v / 2**20 for v in d[p + "process_resident_memory_bytes"]])]),
    ]
    fig, axes = plt.subplots(4, 3, figsize=(15, 12), sharex=True)
    fig.suptitle("moobius-host: the dashboard's panels over a 60 s run (examples/dashboard_run.rs)")
    for ax, (title, series) in zip(axes.flat, panels):
        for label, values in series:
            ax.plot(t, values, label=label, linewidth=1.2)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(dst, dpi=80)
    print("wrote", dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
