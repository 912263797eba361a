#!/usr/bin/env python3
"""Golden sentence embeddings from llama.cpp's llama-embedding, and its
speed, on the engine's benchmark encoder (modelgen.EmbedSpec: bert, 6
layers, hidden 384, mean pooling).

Usage: llamacpp-embed.py GATEWAY RUN_SH OUT.json

For F32, F16 and Q8_0 files (`gateway modelgen --embed --type T --out F`)
it embeds the eight sentences of engine's BenchmarkEmbed with llama-server
--embeddings -t 1 (/v1/embeddings: L2-normalised, the file's mean pooling)
and writes them with provenance. It also times 256
sentences (the eight, 32 times) in one llama-embedding run on one thread
and reports sentences per CPU second: the CPU time of that run minus that
of the 8-sentence run, over the 248 extra sentences (robust to a busy
machine, and free of loading time).
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SENTENCES = [
    "How do I transfer money to my savings account?",
    "Book me a flight to Lisbon next Friday morning please.",
    "What is the fee for paying with a credit card abroad?",
    "My card was declined at the store, what should I do?",
    "Can you tell me the weather in Paris tomorrow?",
    "Cancel my hotel booking for the second week of May.",
    "Why is my account balance lower than I expected today?",
    "Which expert answers questions about travel insurance?",
]
TYPES = ["F32", "F16", "Q8_0"]


def embed(run, model, sentences, extra=()):
    """Runs llama-embedding on the sentences and returns the CPU seconds it
    took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([run, "llama-embedding", "-m", model, "-t", "1", "-tb", "1",
                        "--embd-output-format", "json", "-p", "\n".join(sentences),
                        # 512-token batches of up to 64 sentences: llama.cpp's
                        # fastest setting here (one 8192-token batch of all
                        # 256 is a third slower: attention over the batch)
                        "-b", "512", "-ub", "512", "-c", "1024", "-np", "64"] + list(extra),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return None, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def server_embed(run, model, sentences):
    """The sentences' embeddings from llama-server's /v1/embeddings (one
    thread; L2-normalised, the file's pooling). llama-embedding's own
    output is printed by an asynchronous log thread and loses its tail
    when stdout is a pipe, so the vectors come from the server."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = subprocess.Popen([run, "llama-server", "-m", model, "--embeddings", "--host", "127.0.0.1",
                            "--port", str(port), "-t", "1", "-tb", "1", "-np", "1", "-c", "512",
                            "--no-warmup"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.1)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/embeddings",
                                     data=json.dumps({"input": sentences}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            data = json.load(r)["data"]
        return [d["embedding"] for d in sorted(data, key=lambda d: d["index"])]
    finally:
        srv.terminate()
        srv.wait()


def main():
    gateway, run, out = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="llamacpp-embed-")
    doc = {
        "provenance": (
            "llama.cpp 0.7.0 (build 11669, Debian sid llama.cpp-tools 1:0.7.0+dfsg-2, libggml0 "
            "0.27.0-1, CPU backend libggml-cpu-zen4.so): llama-server --embeddings -t 1 -tb 1 -np 1 "
            "-c 512, POST /v1/embeddings {input: the sentences}; files from `gateway modelgen --embed --type T --out F` (modelgen.EmbedSpec). "
            "Regenerate with scripts/llamacpp-compare.sh embed."),
        "sentences": SENTENCES,
        "embeddings": {},
    }
    speed = {}
    for t in TYPES:
        model = os.path.join(tmp, f"embed-{t}.gguf")
        subprocess.run([gateway, "modelgen", "--embed", "--type", t, "--out", model], check=True,
                       stdout=subprocess.DEVNULL)
        vecs = server_embed(run, model, SENTENCES)
        _, few = embed(run, model, SENTENCES)
        doc["embeddings"][t] = [[round(v, 7) for v in vec] for vec in vecs]
        many = SENTENCES * 32
        _, lots = embed(run, model, many)
        speed[t] = (len(many) - len(SENTENCES)) / (lots - few)
        os.remove(model)
    os.rmdir(tmp)
    with open(out, "w") as f:
        f.write("{\n")
        f.write(f' "provenance": {json.dumps(doc["provenance"])},\n')
        f.write(f' "sentences": {json.dumps(SENTENCES)},\n')
        f.write(' "embeddings": {\n')
        for i, t in enumerate(TYPES):
            f.write(f'  {json.dumps(t)}: [\n')
            vs = doc["embeddings"][t]
            for j, v in enumerate(vs):
                f.write("   " + json.dumps(v) + ("," if j < len(vs) - 1 else "") + "\n")
            f.write("  ]" + ("," if i < len(TYPES) - 1 else "") + "\n")
        f.write(" }\n}\n")
    for t, s in speed.items():
        print(f"llama.cpp {t}: {s:.0f} sentences per CPU second (one thread, 256 sentences in one run)")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        asked = len(sys.argv) > 1
        print(__doc__.strip(), file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
    main()
