#!/usr/bin/env python3
"""Golden sentence embeddings from llama.cpp's llama-embedding, and its
speed, on the engine's benchmark encoder (modelgen.EmbedSpec: bert, 6
layers, hidden 384, mean pooling).

Usage: llamacpp-embed.py GATEWAY RUN_SH OUT.json

For F32, F16 and Q8_0 files (`gateway modelgen --embed --type T --out F`)
it embeds the eight sentences of engine's BenchmarkEmbed with
llama-embedding -t 1 --embd-output-format array (L2-normalised, the file's
mean pooling) and writes them with provenance. It also times 256
sentences (the eight, 32 times) in one llama-embedding run on one thread
and reports sentences/s from llama.cpp's own prompt-eval timing line on
stderr.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

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
    p = subprocess.run([run, "llama-embedding", "-m", model, "-t", "1", "-tb", "1",
                        "--embd-output-format", "array", "-p", "\n".join(sentences),
                        "-b", "8192", "-ub", "8192", "-c", "8192", "-np", str(len(sentences))] + list(extra),
                       check=True, capture_output=True, text=True)
    out = p.stdout[p.stdout.index("["):]
    return json.loads(out), p.stderr


def main():
    gateway, run, out = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="llamacpp-embed-")
    doc = {
        "provenance": (
            "llama.cpp 0.7.0 (build 11669, Debian sid llama.cpp-tools 1:0.7.0+dfsg-2, libggml0 "
            "0.27.0-1, CPU backend libggml-cpu-zen4.so): llama-embedding -t 1 -tb 1 "
            "--embd-output-format array -b 8192 -ub 8192 -c 8192 -np 8 -p <the sentences, one per "
            "line>; files from `gateway modelgen --embed --type T --out F` (modelgen.EmbedSpec). "
            "Regenerate with scripts/llamacpp-compare.sh embed."),
        "sentences": SENTENCES,
        "embeddings": {},
    }
    speed = {}
    for t in TYPES:
        model = os.path.join(tmp, f"embed-{t}.gguf")
        subprocess.run([gateway, "modelgen", "--embed", "--type", t, "--out", model], check=True,
                       stdout=subprocess.DEVNULL)
        vecs, _ = embed(run, model, SENTENCES)
        doc["embeddings"][t] = [[round(v, 7) for v in vec] for vec in vecs]
        many = SENTENCES * 32
        _, err = embed(run, model, many)
        m = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", err)
        if m:
            speed[t] = len(many) / (float(m.group(1)) / 1000)
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
        print(f"llama.cpp {t}: {s:.0f} sentences/s (one thread, 256 sentences in one batch)")


if __name__ == "__main__":
    main()
