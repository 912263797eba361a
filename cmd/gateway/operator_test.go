package main

import (
	"strings"
	"testing"
)

// While a gateway runs on a data directory, `gateway ingest` on it says
// how to ingest instead, and `--url` sends the files through the running
// gateway's admin API.
func TestIngestThroughRunningGateway(t *testing.T) {
	const tok = "ingest-admin"
	data, src := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{
		"warranty.md":     "# Zorblax warranty\n\nThe Zorblax 3000 warranty lasts seven years.\n",
		"sub/returns.txt": "Quokka blenders can be returned within 30 days.\n",
	})
	g := startInstance(t, data, "MOEGATE_ADMIN_TOKEN="+tok)
	_, stderr, code := runGateway(t, "ingest", "--dir", src, "--data-dir", data)
	if code == 0 || !strings.Contains(stderr, "in use by another process") || !strings.Contains(stderr, "--url") {
		t.Fatalf("ingest on a running gateway's data dir: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = runGateway(t, "ingest", "--dir", src, "--url", g.url(""), "--admin-token", tok, "--data-owner", "acme")
	if code != 0 || !strings.Contains(stderr, "ingested 2 files") {
		t.Fatalf("ingest --url: exit %d, stderr:\n%s", code, stderr)
	}
	status, _, body := call(t, "GET", g.url("/admin/knowledge"), tok, nil)
	docs, _ := body["data"].([]any)
	if status != 200 || len(docs) != 2 || docs[0].(map[string]any)["data_owner"] != "acme" {
		t.Fatalf("knowledge after ingest --url: %d %v", status, body)
	}
	if _, stderr, code := runGateway(t, "ingest", "--dir", src, "--url", g.url(""), "--admin-token", "wrong"); code == 0 || !strings.Contains(stderr, "401") {
		t.Fatalf("a wrong token: exit %d, stderr:\n%s", code, stderr)
	}
}

// Help asked for is output: every command prints it on stdout and exits 0.
func TestHelpOnStdout(t *testing.T) {
	cmds := [][]string{{"--help"}, {"help"}, {"bench", "--help"}, {"bench", "local", "--help"}, {"bench", "retrieval", "--help"},
		{"bench", "overhead", "--help"}, {"bench", "instructions", "--help"},
		{"router", "--help"}, {"router", "train", "--help"}}
	for name := range commands() {
		cmds = append(cmds, []string{name, "--help"}, []string{name, "-h"})
	}
	for _, args := range cmds {
		stdout, stderr, code := runGateway(t, args...)
		if code != 0 || !strings.Contains(strings.ToLower(stdout), "usage") || stderr != "" {
			t.Errorf("gateway %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
