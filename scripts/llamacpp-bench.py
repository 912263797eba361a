#!/usr/bin/env python3
"""Speed table: llama.cpp's llama-bench (the CPU backend it picks for this
machine, e.g. zen4 on AVX-512, and the haswell one, AVX2) vs
`gateway bench local`, on the same modelgen files, alternated.

Usage: llamacpp-bench.py GATEWAY RUN_SH HASWELL_DIR OUT.md [TYPES...]

For each weight type (default Q8_0 Q4_0 Q4_K Q6_K), two qwen3moe shapes
(tiny: 4 layers, hidden 512, 8 experts of 512, top-2; large: 9 layers,
hidden 2048, 8 experts of 1024, top-2, about 0.6 GB in Q8_0, far larger
than the caches) and 1 and 2 threads, it runs llama-bench -p 64 -n 32 -r 3
(the default backend, then haswell unless that is the default) and gateway bench local --prompt-tokens 64
--gen-tokens 32 --repetitions 3, one after the other, and writes a
markdown table of tokens/s with ours/llama.cpp ratios and the load average
seen before each row.
"""
import json
import re
import os
import subprocess
import sys
import tempfile

SHAPES = {
    "tiny": ["--layers", "4", "--hidden", "512", "--heads", "8", "--kv-heads", "4",
             "--experts", "8", "--experts-used", "2", "--expert-ffn", "512", "--vocab", "1024", "--seed", "1"],
    "large": ["--layers", "9", "--hidden", "2048", "--heads", "16", "--kv-heads", "4",
              "--experts", "8", "--experts-used", "2", "--expert-ffn", "1024", "--vocab", "1024", "--seed", "3"],
}
BACKENDS = "/usr/lib/x86_64-linux-gnu/ggml/backends0"


def default_backend(run):
    """Name of the CPU backend variant llama.cpp loads on this machine
    (zen4 on an AVX-512 EPYC, haswell on an AVX2-only one)."""
    err = subprocess.run([run, "llama-bench", "--list-devices"], capture_output=True, text=True).stderr
    m = re.search(r"libggml-cpu-([a-z0-9_]+)\.so", err)
    return m.group(1) if m else "default"


def load():
    return open("/proc/loadavg").read().split()[0]


def llama_bench(run, model, threads, haswell_dir):
    cmd = [run, "llama-bench", "-m", model, "-t", str(threads), "-p", "64", "-n", "32", "-r", "3", "-o", "json"]
    if haswell_dir:
        cmd = ["unshare", "-m", "sh", "-c", f"mount --bind {haswell_dir} {BACKENDS} && exec \"$@\"", "sh"] + cmd
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    pp = next(r["avg_ts"] for r in out if r["n_prompt"] > 0)
    tg = next(r["avg_ts"] for r in out if r["n_gen"] > 0)
    return pp, tg


def ours(gateway, model, threads):
    out = subprocess.run([gateway, "bench", "local", "--model", model, "--threads", str(threads),
                          "--prompt-tokens", "64", "--gen-tokens", "32", "--repetitions", "3", "--json"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r["pp_tokens_per_s"], r["tg_tokens_per_s"]


def main():
    gateway, run, hdir, out = sys.argv[1:5]
    types = sys.argv[5:] or ["Q8_0", "Q4_0", "Q4_K", "Q6_K"]
    best = default_backend(run)
    tmp = tempfile.mkdtemp(prefix="llamacpp-bench-")
    rows = []
    for shape, flags in SHAPES.items():
        for typ in types:
            model = os.path.join(tmp, f"{shape}-{typ}.gguf")
            subprocess.run([gateway, "modelgen", "--out", model, "--arch", "qwen3moe", "--type", typ] + flags,
                           check=True, stdout=subprocess.DEVNULL)
            size = os.path.getsize(model)
            for threads in (1, 2):
                la = load()
                z = llama_bench(run, model, threads, None)
                h = z if best == "haswell" else llama_bench(run, model, threads, hdir)
                o = ours(gateway, model, threads)
                rows.append((shape, typ, size, threads, la, z, h, o))
                print(rows[-1], file=sys.stderr, flush=True)
            os.remove(model)
    # Where llama.cpp picks haswell itself there is one llama.cpp column.
    cols = [best] if best == "haswell" else [best, "haswell"]
    with open(out, "w") as f:
        head = ["shape", "type", "MB", "threads", "load"]
        for kind in ("pp", "tg"):
            head += [f"{kind} {c}" for c in cols] + [f"{kind} ours"] + [f"ours/{c}" for c in cols]
        f.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
        for shape, typ, size, threads, la, z, h, o in rows:
            cells = [shape, typ, f"{size/1e6:.0f}", str(threads), la]
            for i in (0, 1):
                ref = (z[i], h[i])[:len(cols)]
                cells += [f"{v:.1f}" for v in ref] + [f"{o[i]:.1f}"] + [f"{o[i]/v:.2f}" for v in ref]
            f.write("| " + " | ".join(cells) + " |\n")
    os.rmdir(tmp)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        asked = len(sys.argv) > 1
        print(__doc__.strip(), file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
    main()
