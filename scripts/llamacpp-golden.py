#!/usr/bin/env python3
"""Golden greedy token ids from llama.cpp, for engine/model's identity test.

Usage: llamacpp-golden.py GATEWAY RUN_SH OUT.json

GATEWAY is a built `gateway` binary, RUN_SH the wrapper that runs llama.cpp's
tools (see scripts/llamacpp-compare.sh). For llama-MoE and qwen2moe files in
Q8_0, Q4_0, Q4_K and Q6_K (`gateway modelgen --all DIR --seed 1`), it asks
llama-server (one thread, one slot, on a loopback port) for the prompt's
token ids (/tokenize) and 32 greedy tokens (/completion, temperature 0,
ignore_eos: end-of-generation tokens are never chosen), in up to four
configurations: the CPU backend llama.cpp picks for this machine (zen4 on an
AVX-512 EPYC) and the haswell (AVX2) one, each with llama.cpp's default KV
cache (F16, flash attention auto) and with an F32 KV cache without flash
attention (-ctk f32 -ctv f32 -fa off), the arithmetic closest to the
engine's. The runs are named after the backend (zen4, zen4_f32kv, haswell,
haswell_f32kv); where llama.cpp picks haswell itself, only the haswell ones.
The haswell backend is forced by bind-mounting a directory holding only
libggml-cpu-haswell.so over ggml's backend directory in a private mount
namespace (unshare -m; needs root).

llama.cpp is a measurement tool here, not a test dependency: the output is
committed as testdata with this provenance.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module

PROMPT = "The quick brown fox jumps over the lazy dog"
N = 32
FILES = [f"{a}-{t}" for a in ("llama", "qwen2moe") for t in ("Q8_0", "Q4_0", "Q4_K", "Q6_K")]
BACKENDS = "/usr/lib/x86_64-linux-gnu/ggml/backends0"
F32KV = ["-ctk", "f32", "-ctv", "f32", "-fa", "off"]


def configs(best):
    """Run name -> (extra flags, force haswell), for the default backend best."""
    out = {best: ([], False), best + "_f32kv": (F32KV, False)}
    if best != "haswell":
        out.update({"haswell": ([], True), "haswell_f32kv": (F32KV, True)})
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(port, path, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def server_cmd(run, model, port, extra, haswell_dir):
    cmd = [run, "llama-server", "-m", model, "--host", "127.0.0.1", "--port", str(port),
           "-t", "1", "-tb", "1", "-np", "1", "-c", "512", "--no-warmup"] + extra
    if haswell_dir:
        script = f"mount --bind {haswell_dir} {BACKENDS} && exec \"$@\""
        cmd = ["unshare", "-m", "sh", "-c", script, "sh"] + cmd
    return cmd


def greedy(run, model, extra, haswell_dir):
    port = free_port()
    srv = subprocess.Popen(server_cmd(run, model, port, extra, haswell_dir),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > deadline or srv.poll() is not None:
                sys.exit(f"llama-server did not start for {model}")
            time.sleep(0.1)
        ids = post(port, "/tokenize", {"content": PROMPT, "add_special": True})["tokens"]
        out = post(port, "/completion", {
            "prompt": ids, "n_predict": N, "temperature": 0,
            "cache_prompt": False, "return_tokens": True, "ignore_eos": True})
        return ids, out["tokens"]
    finally:
        srv.terminate()
        srv.wait()


def compact(doc):
    """JSON with one line per token list."""
    lines = ["{", f' "provenance": {json.dumps(doc["provenance"])},', f' "prompt": {json.dumps(doc["prompt"])},', ' "cases": [']
    for i, c in enumerate(doc["cases"]):
        lines.append(f'  {{"file": {json.dumps(c["file"])}, "prompt_ids": {json.dumps(c["prompt_ids"])}, "runs": {{')
        runs = list(c["runs"].items())
        for j, (k, v) in enumerate(runs):
            lines.append(f'   {json.dumps(k)}: {json.dumps(v)}' + ("," if j < len(runs) - 1 else ""))
        lines.append("  }}" + ("," if i < len(doc["cases"]) - 1 else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines)


def main():
    gateway, run, out = sys.argv[1], sys.argv[2], sys.argv[3]
    best = import_module("llamacpp-bench").default_backend(run)
    tmp = tempfile.mkdtemp(prefix="llamacpp-golden-")
    try:
        subprocess.run([gateway, "modelgen", "--all", tmp, "--seed", "1"], check=True,
                       stdout=subprocess.DEVNULL)
        hdir = os.path.join(tmp, "haswell-backend")
        os.mkdir(hdir)
        shutil.copy(os.path.join(BACKENDS, "libggml-cpu-haswell.so"), hdir)
        cases = []
        for name in FILES:
            model = os.path.join(tmp, name + ".gguf")
            case = {"file": name + ".gguf", "runs": {}}
            for cfg, (extra, force) in configs(best).items():
                ids, toks = greedy(run, model, extra, hdir if force else None)
                case.setdefault("prompt_ids", ids)
                if ids != case["prompt_ids"]:
                    sys.exit(f"{name}: prompt ids differ between configurations")
                case["runs"][cfg] = toks
            cases.append(case)
            print(name, file=sys.stderr)
        doc = {
            "provenance": (
                "llama.cpp 0.7.0 (build 11669, Debian sid packages llama.cpp-tools "
                "1:0.7.0+dfsg-2, libggml0 0.27.0-1), llama-server -t 1 -tb 1 -np 1 -c 512 "
                "--no-warmup [+ -ctk f32 -ctv f32 -fa off for *_f32kv]; /tokenize then "
                "/completion {n_predict: 32, temperature: 0, ignore_eos: true, "
                f"return_tokens: true}}; CPU backend libggml-cpu-{best}.so (llama.cpp's pick here)"
                + ("" if best == "haswell" else " or libggml-cpu-haswell.so (forced)")
                + "; files from `gateway modelgen --all DIR "
                "--seed 1` (modelgen.AllSpec). Regenerate with scripts/llamacpp-compare.sh golden."),
            "prompt": PROMPT,
            "cases": cases,
        }
        with open(out, "w") as f:
            f.write(compact(doc) + "\n")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        asked = len(sys.argv) > 1
        print(__doc__.strip(), file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
    main()
