#!/usr/bin/env python3
"""bench-report.py DIR...: the table of one bench-guest.sh results directory (one kernel, one
layout) per DIR, from its raw files, so it can be printed again later. Exits 1 when a directory
lacks results or a fio job reported an error."""

import json
import os
import statistics
import sys


class BenchError(Exception):
    pass


def read_tsv(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta[key] = value
    return meta


def load_fio(path, cache={}):
    if path not in cache:
        with open(path) as f:
            text = f.read()
        # fio writes its notes (exec_prerun's "Saving output of...") before the JSON.
        cache[path] = json.loads(text[text.index("{"):])
    return cache[path]


def fio_job(doc, name, path):
    for job in doc["jobs"]:
        if job["jobname"] == name:
            if job.get("error"):
                raise BenchError(f"{path}: fio job {name} failed with error {job['error']}")
            return job
    raise BenchError(f"{path}: no fio job {name}")


def iops_text(v):
    return f"{v / 1000:.0f}k" if v >= 100000 else f"{v:.0f}"


def usec_text(v):
    return f"{v / 1000:.1f}ms" if v >= 10000 else f"{v:.1f}us"


def layout_text(meta):
    if meta["layout"] == "shared":
        return (f"shared: {meta['cpus']} vCPU for fio and ublkd (daemon and queue thread), "
                f"all on CPU {meta['fio_cpu']}")
    return (f"split: {meta['cpus']} vCPUs, fio on CPU {meta['fio_cpu']}, ublkd (daemon and "
            f"queue thread) on CPU {meta['server_cpu']}")


def report(d):
    for name in ("meta.txt", "targets.tsv", "runs.tsv"):
        if not os.path.exists(os.path.join(d, name)):
            raise BenchError(f"{d}: no {name}: the guest did not get that far")
    meta = read_meta(os.path.join(d, "meta.txt"))
    targets = read_tsv(os.path.join(d, "targets.tsv"))
    runs = read_tsv(os.path.join(d, "runs.tsv"))
    if not runs:
        raise BenchError(f"{d}: no runs")
    cpus = int(meta["cpus"])

    # (job, target) -> round -> figures of that run
    results = {}
    jobs = []
    job_qd = {}
    for rnd, job, target, busy, total, json_name, fio_name in runs:
        path = os.path.join(d, json_name)
        doc = load_fio(path)
        j = fio_job(doc, fio_name, path)
        iops = j["read"]["iops"] + j["write"]["iops"]
        if not iops or not int(total):
            raise BenchError(f"{path}: job {fio_name} did no I/O")
        side = j["write"] if j["write"]["total_ios"] else j["read"]
        pct = side["lat_ns"].get("percentile", {})
        results.setdefault((job, target), {})[int(rnd)] = {
            "IOPS": iops,
            "lat p50": pct.get("50.000000", 0) / 1000,
            "lat p99": pct.get("99.000000", 0) / 1000,
            # CPU-seconds used per second, over I/Os per second.
            "cpu": int(busy) / int(total) * cpus * 1e6 / iops,
        }
        if job not in jobs:
            jobs.append(job)
            job_qd[job] = int(doc["global options"]["iodepth"])

    def med(job, target, key):
        rs = results.get((job, target))
        return statistics.median(r[key] for r in rs.values()) if rs else None

    def spread(job, target, ref, key):
        ours, theirs = results.get((job, target), {}), results.get((job, ref), {})
        ratios = [ours[r][key] / theirs[r][key] for r in ours if r in theirs and theirs[r][key]]
        return f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"

    out = []
    out.append(f"== Linux {meta['kernel']}, layout {layout_text(meta)} ==")
    out.append(f"{meta['rounds']} rounds, each running every job on every target in turn; "
               f"{meta['runtime']} s measured per run after a {meta['ramp']} s ramp; "
               f"{meta.get('fio', 'fio')}, io_uring, O_DIRECT; medians over rounds")
    out.append("ratio = ublkd / kernel reference. IOPS: higher is better. Latency (fio's total "
               "lat, submission to completion): LOWER is better.")
    out.append("spread = lowest-highest per-round ratio. CPU/IO = guest CPU time on all vCPUs "
               "but idle (/proc/stat) per I/O, in us; an idle guest is "
               f"{meta.get('idle_busy_pct', '?')}% busy.")
    out.append("")
    # Every cell a string; the kernel references have no rows of their own (they are the
    # "kernel" columns), and a reference that was not run leaves its cells "-".
    rows = [["job", "metric", "target", "ublkd", "reference", "kernel", "ratio", "spread",
             "CPU/IO", "kernel", "ratio"]]
    ublkd_targets = [t for t in targets if t[1] == "ublkd"]
    for job in jobs:
        metrics = ["IOPS"] + (["lat p50", "lat p99"] if job_qd[job] == 1 else [])
        for metric in metrics:
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
    # A job and a metric are named on their first row only.
    previous = None
    for n, r in enumerate(rows):
        shown = list(r)
        if n and previous and r[0] == previous[0]:
            shown[0] = ""
            if r[1] == previous[1]:
                shown[1] = ""
        previous = r
        r = shown
        out.append("  ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            out.append("-" * len(out[-1]))
    out.append("")

    status = os.path.join(d, "ublkd-status.txt")
    if os.path.exists(status):
        st = read_meta_colon(status)
        mib = lambda k: f"{int(st.get(k, '0 kB').split()[0]) / 1024:.1f}"
        out.append(f"ublkd daemon after the runs ({len(ublkd_targets)} devices): VmRSS "
                   f"{mib('VmRSS')} MiB (anon {mib('RssAnon')}, file {mib('RssFile')}, shmem "
                   f"{mib('RssShmem')}), peak VmHWM {mib('VmHWM')} MiB, {st.get('Threads', '?')} "
                   "threads (memory backend data lives in memfds: not in RSS)")
    # The same refusal for every mode (an ublkd without --io-mode) is one line.
    notes = os.path.join(d, "notes.txt")
    if os.path.exists(notes):
        by_reason = {}
        with open(notes) as f:
            for line in f:
                what, sep, reason = line.rstrip("\n").partition(": not offered: ")
                if sep:
                    by_reason.setdefault(reason, []).append(what)
                elif line.strip():
                    out.append(line.rstrip("\n"))
        for reason, whats in by_reason.items():
            out.append(f"not offered: {' '.join(whats)}: {reason}")
    out.append("")
    return "\n".join(out)


def read_meta_colon(path):
    st = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            st[key] = value.strip()
    return st


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
