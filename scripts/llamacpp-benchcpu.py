#!/usr/bin/env python3
"""Speed table in CPU time: llama.cpp (the CPU backend it picks for this
machine, and the haswell one unless that is it) vs the engine.

Usage: llamacpp-benchcpu.py GATEWAY RUN_SH HASWELL_DIR OUT.md [tiny|large] [TYPES...] [THREADS...]

A busy machine inflates wall-clock times but not the CPU time of a
process, so each speed here is work divided by CPU seconds: the CPU time
(user + system of every thread, from getrusage of the child) of a run with
R1 + EXTRA repetitions minus that of a run with R1, which cancels loading,
warm-up and start-up; each run is repeated REPEAT times and the least CPU
time kept. The engine's side counts only its measured phase (the CPU
time it reports, see ours). With more than one thread this is tokens per CPU
second of all threads together (time spent spinning at barriers counts).
Prompt processing: llama-bench -p 64 -n 0 -t T -r R vs gateway bench local
--prompt-tokens 64 --gen-tokens 0 --threads T --repetitions R; generation:
llama-bench -p 0 -n 32 vs --prompt-tokens 1 --gen-tokens 32 (the engine's
one prompt token is not counted). Runs
alternate llama.cpp and the engine. Shapes as llamacpp-bench.py; threads
are the numeric arguments (default 1).
"""
import json
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module

bench = import_module("llamacpp-bench")
SHAPES = bench.SHAPES
BACKENDS = bench.BACKENDS
R1 = 2
# Extra runs per measurement: the tiny model's runs take milliseconds, so
# it needs many for the difference to stand out of start-up noise.
EXTRA = {"tiny": 20, "large": 4}


def cpu(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def llama(run, model, hdir, threads, p, n, r):
    cmd = [run, "llama-bench", "-m", model, "-t", str(threads), "-p", str(p), "-n", str(n), "-r", str(r)]
    if hdir:
        cmd = ["unshare", "-m", "sh", "-c", f"mount --bind {hdir} {BACKENDS} && exec \"$@\"", "sh"] + cmd
    return cpu(cmd)


def ours(gateway, model, threads, p, n, r):
    """CPU seconds of the engine's measured runs of the phase, as it
    reports them (its whole process's CPU time during the phase): its load
    faults in up to half a gigabyte of huge pages, usually 0.1 s of system
    time but on a VM sometimes 1-1.5 s, noise the difference of two
    processes' CPU times does not cancel."""
    out = subprocess.run([gateway, "bench", "local", "--model", model, "--threads", str(threads), "--prompt-tokens",
                          str(p), "--gen-tokens", str(n), "--repetitions", str(r), "--json"],
                         check=True, capture_output=True, text=True).stdout
    res = json.loads(out)
    return res["tg_cpu_s"] if n > 0 else res["pp_cpu_s"]


# Each run is repeated and its least CPU time kept: what a busy machine
# adds to a run is positive, and it does not cancel in the difference when
# it hits one run and not the other.
REPEAT = 3


def rates(fs, tokens, extra):
    """Tokens per CPU second of each f in fs, their runs interleaved."""
    base = [float("inf")] * len(fs)
    more = [float("inf")] * len(fs)
    for _ in range(REPEAT):
        for i, f in enumerate(fs):
            base[i] = min(base[i], f(R1))
            more[i] = min(more[i], f(R1 + extra))
    return [tokens * extra / (m - b) for m, b in zip(more, base)]


def main():
    gateway, run, hdir, out = sys.argv[1:5]
    args = sys.argv[5:]
    shapes = [a for a in args if a in SHAPES] or list(SHAPES)
    threads = [int(a) for a in args if a.isdigit()] or [1]
    types = [a for a in args if a not in SHAPES and not a.isdigit()] or ["Q8_0", "Q4_0", "Q4_K", "Q6_K"]
    best = bench.default_backend(run)
    tmp = tempfile.mkdtemp(prefix="llamacpp-benchcpu-")
    rows = []
    for shape in shapes:
        flags = SHAPES[shape]
        for typ in types:
            model = os.path.join(tmp, f"{shape}-{typ}.gguf")
            subprocess.run([gateway, "modelgen", "--out", model, "--arch", "qwen3moe", "--type", typ] + flags,
                           check=True, stdout=subprocess.DEVNULL)
            for t in threads:
                row = [shape, typ, os.path.getsize(model) / 1e6, t, bench.load()]
                for p, n, tok in ((64, 0, 64), (0, 32, 32)):
                    fs = [lambda r: llama(run, model, None, t, p, n, r),
                          lambda r: ours(gateway, model, t, max(p, 1), n, r)]
                    if best != "haswell":
                        fs.append(lambda r: llama(run, model, hdir, t, p, n, r))
                    z, o, *h = rates(fs, tok, EXTRA[shape])
                    row += [z, h[0] if h else z, o]
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
            os.remove(model)
    os.rmdir(tmp)
    # Where llama.cpp picks haswell itself there is one llama.cpp column.
    cols = [best] if best == "haswell" else [best, "haswell"]
    with open(out, "w") as f:
        head = ["shape", "type", "MB", "threads", "load"]
        for kind in ("pp", "tg"):
            head += [f"{kind} {c}" for c in cols] + [f"{kind} ours"] + [f"ours/{c}" for c in cols]
        f.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
        for s, t, mb, th, la, pz, ph, po, tz, thh, to in rows:
            cells = [s, t, f"{mb:.0f}", str(th), la]
            for ref, o in (((pz, ph), po), ((tz, thh), to)):
                ref = ref[:len(cols)]
                cells += [f"{v:.1f}" for v in ref] + [f"{o:.1f}"] + [f"{o/v:.2f}" for v in ref]
            f.write("| " + " | ".join(cells) + " |\n")

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        asked = len(sys.argv) > 1
        print(__doc__.strip(), file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
    main()
