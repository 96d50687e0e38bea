#!/usr/bin/env python3
"""bench-report.py DIR...: the table of one bench-guest.sh results directory (one kernel, one
layout) per DIR, made from its raw files, so that it can be printed again later. Exits 1 when
a directory lacks results or a fio job reported an error."""

import json
import os
import statistics
import sys


class BenchError(Exception):
    pass


def read_tsv(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def read_pairs(path, sep):
    """KEY<sep>VALUE lines (meta.txt with "=", /proc/PID/status with ":")."""
    pairs = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(sep)
            pairs[key] = value.strip()
    return pairs


fio_docs = {}


def fio_job(path, name):
    if path not in fio_docs:
        with open(path) as f:
            text = f.read()
        # fio may write notes (exec_prerun's "Saving output of...") before the JSON.
        fio_docs[path] = json.loads(text[text.index("{"):])
    doc = fio_docs[path]
    for job in doc["jobs"]:
        if job["jobname"] == name:
            if job.get("error"):
                raise BenchError(f"{path}: fio job {name} failed with error {job['error']}")
            return doc, job
    raise BenchError(f"{path}: no fio job {name}")


def load_runs(d, cpus):
    """(job, target) -> {round: figures}, and each job's iodepth, in the order they ran."""
    results, job_qd = {}, {}
    for rnd, job, target, busy, total, json_name, fio_name in read_tsv(os.path.join(d, "runs.tsv")):
        path = os.path.join(d, json_name)
        doc, j = fio_job(path, fio_name)
        iops = j["read"]["iops"] + j["write"]["iops"]
        if not iops or not int(total):
            raise BenchError(f"{path}: fio job {fio_name} did no I/O")
        side = j["write"] if j["write"]["total_ios"] else j["read"]
        pct = side["lat_ns"].get("percentile", {})
        results.setdefault((job, target), {})[int(rnd)] = {
            "IOPS": iops,
            "lat p50": pct.get("50.000000", 0) / 1000,
            "lat p99": pct.get("99.000000", 0) / 1000,
            # Busy share of the window times the vCPUs: CPU-seconds per second, over IOPS.
            "cpu": int(busy) / int(total) * cpus * 1e6 / iops,
        }
        job_qd.setdefault(job, int(doc["global options"]["iodepth"]))
    if not results:
        raise BenchError(f"{d}: no runs")
    return results, job_qd


def iops_text(v):
    return f"{v / 1000:.0f}k" if v >= 100000 else f"{v:.0f}"


def usec_text(v):
    return f"{v / 1000:.1f}ms" if v >= 10000 else f"{v:.1f}us"


def header(meta):
    if meta["layout"] == "shared":
        layout = (f"shared: {meta['cpus']} vCPU for fio and ublkd (daemon and queue thread), "
                  f"all on CPU {meta['fio_cpu']}")
    else:
        layout = (f"split: {meta['cpus']} vCPUs, fio on CPU {meta['fio_cpu']}, ublkd (daemon "
                  f"and queue thread) on CPU {meta['server_cpu']}")
    return [
        f"== Linux {meta['kernel']}, layout {layout} ==",
        f"{meta['rounds']} rounds, each running every job on every target in turn; "
        f"{meta['runtime']} s measured per run after a {meta['ramp']} s ramp; "
        f"{meta.get('fio', 'fio')}, io_uring, O_DIRECT; medians over rounds",
        "ratio = ublkd / kernel reference. IOPS: higher is better. Latency (fio's total lat, "
        "submission to completion): LOWER is better.",
        "spread = lowest-highest per-round ratio. CPU/IO = guest CPU time on all vCPUs but "
        f"idle (/proc/stat) per I/O, in us; an idle guest is {meta.get('idle_busy_pct', '?')}% "
        "busy.",
        "",
    ]


def table(results, job_qd, ublkd_targets):
    def med(job, target, key):
        rs = results.get((job, target))
        return statistics.median(r[key] for r in rs.values()) if rs else None

    def spread(job, target, ref, key):
        ours, theirs = results.get((job, target), {}), results.get((job, ref), {})
        ratios = [ours[r][key] / theirs[r][key] for r in ours if r in theirs and theirs[r][key]]
        return f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"

    # The kernel references have no rows of their own: they are the "kernel" columns. A
    # reference that was not run leaves its cells "-".
    rows = [["job", "metric", "target", "ublkd", "reference", "kernel", "ratio", "spread",
             "CPU/IO", "kernel", "ratio"]]
    for job, qd in job_qd.items():
        for metric in ["IOPS"] + (["lat p50", "lat p99"] if qd == 1 else []):
            fmt = iops_text if metric == "IOPS" else usec_text
            for target, _kind, _dev, ref, mode in ublkd_targets:
                ours, theirs = med(job, target, metric), med(job, ref, metric)
                if ours is None:
                    continue
                label = target + (" (auto)" if mode.startswith("auto=") else "")
                row = [job, metric, label, fmt(ours), ref, fmt(theirs) if theirs else "-",
                       f"{ours / theirs:.2f}" if theirs else "-",
                       spread(job, target, ref, metric), "", "", ""]
                if metric == "IOPS":
                    c_ours, c_theirs = med(job, target, "cpu"), med(job, ref, "cpu")
                    row[8:] = [f"{c_ours:.1f}", f"{c_theirs:.1f}" if c_theirs else "-",
                               f"{c_ours / c_theirs:.2f}" if c_theirs else "-"]
                rows.append(row)

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    left = {0, 1, 2, 4, 7}
    lines = []
    for n, row in enumerate(rows):
        shown = list(row)
        # A job and a metric are named on their first row only.
        if 1 < n and row[0] == rows[n - 1][0]:
            shown[0] = ""
            if row[1] == rows[n - 1][1]:
                shown[1] = ""
        lines.append("  ".join(c.ljust(w) if i in left else c.rjust(w)
                               for i, (c, w) in enumerate(zip(shown, widths))).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    return lines + [""]


def footer(d, nr_devices):
    lines = []
    status = os.path.join(d, "ublkd-status.txt")
    if os.path.exists(status):
        st = read_pairs(status, ":")

        def mib(key):
            return f"{int(st.get(key, '0 kB').split()[0]) / 1024:.1f}"

        lines.append(f"ublkd daemon after the runs ({nr_devices} devices): VmRSS {mib('VmRSS')} "
                     f"MiB (anon {mib('RssAnon')}, file {mib('RssFile')}, shmem "
                     f"{mib('RssShmem')}), peak VmHWM {mib('VmHWM')} MiB, "
                     f"{st.get('Threads', '?')} threads (the memory backend's data is in "
                     "memfds, not in RSS)")
    # One line per reason: an ublkd without --io-mode refuses every mode alike.
    by_reason = {}
    with open(os.path.join(d, "notes.txt")) as f:
        for line in f:
            what, sep, reason = line.rstrip("\n").partition(": not offered: ")
            if sep:
                by_reason.setdefault(reason, []).append(what)
            elif line.strip():
                lines.append(line.rstrip("\n"))
    for reason, whats in by_reason.items():
        lines.append(f"not offered: {' '.join(whats)}: {reason}")
    return lines + [""]


def report(d):
    for name in ("meta.txt", "targets.tsv", "runs.tsv", "notes.txt"):
        if not os.path.exists(os.path.join(d, name)):
            raise BenchError(f"{d}: no {name}: the guest did not get that far")
    meta = read_pairs(os.path.join(d, "meta.txt"), "=")
    ublkd_targets = [t for t in read_tsv(os.path.join(d, "targets.tsv")) if t[1] == "ublkd"]
    results, job_qd = load_runs(d, int(meta["cpus"]))
    return "\n".join(header(meta) + table(results, job_qd, ublkd_targets) +
                     footer(d, len(ublkd_targets)))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rc = 0
    for d in argv[1:]:
        try:
            print(report(d))
        except (BenchError, OSError, ValueError, KeyError) as e:
            print(f"bench-report: {e}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
