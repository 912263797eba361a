#!/usr/bin/env python3
"""One-thread speed table in CPU time: llama.cpp (zen4, haswell) vs the engine.

Usage: llamacpp-benchcpu.py GATEWAY RUN_SH HASWELL_DIR OUT.md [tiny|large] [TYPES...]

A busy machine inflates wall-clock times but not the CPU time of a
one-thread process, so each speed here is work divided by CPU seconds:
the CPU time (user + system, from getrusage of the child) of a run with
R1 + EXTRA repetitions minus that of a run with R1, which cancels loading,
warm-up and start-up. Prompt processing: llama-bench -p 64 -n 0 -t 1 -r R vs
gateway bench local --prompt-tokens 64 --gen-tokens 0 --threads 1
--repetitions R; generation: llama-bench -p 0 -n 32 vs --prompt-tokens 1
--gen-tokens 32 (the engine's runs also process one prompt token each,
about 3% more work). Shapes as llamacpp-bench.py.
"""
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module

SHAPES = import_module("llamacpp-bench").SHAPES
BACKENDS = "/usr/lib/x86_64-linux-gnu/ggml/backends0"
R1 = 2
# Extra runs per measurement: the tiny model's runs take milliseconds, so
# it needs many for the difference to stand out of start-up noise.
EXTRA = {"tiny": 20, "large": 4}


def cpu(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def llama(run, model, hdir, p, n, r):
    cmd = [run, "llama-bench", "-m", model, "-t", "1", "-p", str(p), "-n", str(n), "-r", str(r)]
    if hdir:
        cmd = ["unshare", "-m", "sh", "-c", f"mount --bind {hdir} {BACKENDS} && exec \"$@\"", "sh"] + cmd
    return cpu(cmd)


def ours(gateway, model, p, n, r):
    return cpu([gateway, "bench", "local", "--model", model, "--threads", "1", "--prompt-tokens", str(p),
                "--gen-tokens", str(n), "--repetitions", str(r)])


def rate(f, tokens, extra):
    return tokens * extra / (f(R1 + extra) - f(R1))


def main():
    gateway, run, hdir, out = sys.argv[1:5]
    args = sys.argv[5:]
    shapes = [a for a in args if a in SHAPES] or list(SHAPES)
    types = [a for a in args if a not in SHAPES] or ["Q8_0", "Q4_0", "Q4_K", "Q6_K"]
    tmp = tempfile.mkdtemp(prefix="llamacpp-benchcpu-")
    rows = []
    for shape in shapes:
        flags = SHAPES[shape]
        for typ in types:
            model = os.path.join(tmp, f"{shape}-{typ}.gguf")
            subprocess.run([gateway, "modelgen", "--out", model, "--arch", "qwen3moe", "--type", typ] + flags,
                           check=True, stdout=subprocess.DEVNULL)
            row = [shape, typ, os.path.getsize(model) / 1e6]
            for kind, p, n, tok in (("pp", 64, 0, 64), ("tg", 0, 32, 32)):
                x = EXTRA[shape]
                z = rate(lambda r: llama(run, model, None, p, n, r), tok, x)
                h = rate(lambda r: llama(run, model, hdir, p, n, r), tok, x)
                o = rate(lambda r: ours(gateway, model, max(p, 1), n, r), tok, x)
                row += [z, h, o]
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
            os.remove(model)
    os.rmdir(tmp)
    with open(out, "w") as f:
        f.write("| shape | type | MB | pp zen4 | pp haswell | pp ours | ours/zen4 | ours/haswell "
                "| tg zen4 | tg haswell | tg ours | ours/zen4 | ours/haswell |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for s, t, mb, pz, ph, po, tz, th, to in rows:
            f.write(f"| {s} | {t} | {mb:.0f} | {pz:.1f} | {ph:.1f} | {po:.1f} | {po/pz:.2f} | {po/ph:.2f} "
                    f"| {tz:.1f} | {th:.1f} | {to:.1f} | {to/tz:.2f} | {to/th:.2f} |\n")


if __name__ == "__main__":
    main()
