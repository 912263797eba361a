package retrieval

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// The crash test re-executes the test binary as a child that ingests in a
// loop; TestMain routes the child here.
const crashChildEnv = "MOEGATE_RETRIEVAL_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		if err := crashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const crashChunks = 12

// crashDoc returns document i's chunks; the parent regenerates them to
// check what it finds.
func crashDoc(i int) []Chunk {
	return testChunks(NewSynthetic(contractDim, 5, 0, uint64(1000+i)), fmt.Sprint("doc", i), crashChunks)
}

// crashChild upserts documents from the number in dir/next onwards,
// deleting now and then, printing each acknowledged change, until killed.
// A small snapshot threshold makes snapshots happen mid-ingest too.
func crashChild(dir string) error {
	var start int
	if b, err := os.ReadFile(dir + "/next"); err == nil {
		fmt.Sscan(string(b), &start)
	}
	e, err := OpenEmbedded(dir+"/store", contractDim, EmbeddedOptions{SnapshotBytes: 32 << 10})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := start; ; i++ {
		if err := e.Upsert(ctx, Document{ID: fmt.Sprint("doc", i), DataOwner: "o"}, crashDoc(i)); err != nil {
			return err
		}
		fmt.Printf("ack doc%d\n", i)
		if i%5 == 4 {
			id := fmt.Sprint("doc", i-2)
			if err := e.DeleteDocument(ctx, id); err != nil {
				return err
			}
			fmt.Printf("del %s\n", id)
		}
	}
}

func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 1))
	present := map[string]bool{} // acknowledged and not deleted
	next := 0
	for round := range 3 {
		os.WriteFile(dir+"/next", fmt.Appendf(nil, "%d", next), 0o644)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of acknowledgements, while the child
		// is in the middle of its next write, then read what it printed
		// before dying: all of it was acknowledged.
		killAt := 40 + r.IntN(60)
		sc := bufio.NewScanner(out)
		acks := 0
		var inFlight map[string]bool
		for sc.Scan() {
			op, id, _ := strings.Cut(sc.Text(), " ")
			var i int
			switch op {
			case "ack":
				present[id] = true
				acks++
				fmt.Sscanf(id, "doc%d", &i)
				next = i + 1
				inFlight = map[string]bool{fmt.Sprint("doc", i+1): true}
				if i%5 == 4 {
					inFlight = map[string]bool{fmt.Sprint("doc", i-2): true}
				}
			case "del":
				delete(present, id)
				inFlight = map[string]bool{fmt.Sprint("doc", next): true}
			}
			if acks == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if acks < killAt {
			t.Fatalf("round %d: child stopped after %d acknowledgements: %s", round, acks, stderr.String())
		}

		e, err := OpenEmbedded(dir+"/store", contractDim, EmbeddedOptions{})
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		docs, err := e.Documents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The write in flight at the kill may or may not have landed;
		// nothing else may differ.
		found := map[string]bool{}
		for _, d := range docs {
			found[d.ID] = true
			if !present[d.ID] && !inFlight[d.ID] {
				t.Errorf("round %d: unexpected document %s", round, d.ID)
			}
			if d.Chunks != crashChunks {
				t.Errorf("round %d: %s has %d chunks, want %d", round, d.ID, d.Chunks, crashChunks)
			}
		}
		for id := range present {
			if !found[id] && !inFlight[id] {
				t.Errorf("round %d: acknowledged %s lost", round, id)
			}
		}
		wantCount(t, e, len(docs), len(docs)*crashChunks)
		for id := range found {
			var i int
			fmt.Sscanf(id, "doc%d", &i)
			for _, c := range crashDoc(i)[:3] {
				hits, err := e.Search(ctx, c.Embedding, 1, Filter{})
				if err != nil || len(hits) != 1 || hits[0].Chunk.DocID != id || hits[0].Chunk.Seq != c.Seq {
					t.Errorf("round %d: %s#%d not found: %v %v", round, id, c.Seq, hits, err)
				}
			}
		}
		// Resolve the in-flight write as the store did, for the next round.
		for id := range inFlight {
			if found[id] {
				present[id] = true
			} else {
				delete(present, id)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
		t.Logf("round %d: killed after %d acknowledgements; %d documents recovered", round, acks, len(docs))
	}
}

// TestTornLog damages the end of the log in the ways a crash or a bad disk
// can and checks that reopening keeps every whole record before it, drops
// the damaged one, and appends cleanly afterwards.
func TestTornLog(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		damage func(b []byte, last int) []byte // last: offset of the last record
		lost   bool                            // the last record is lost
	}{
		{"intact", func(b []byte, _ int) []byte { return b }, false},
		{"cut one byte", func(b []byte, _ int) []byte { return b[:len(b)-1] }, true},
		{"cut mid-header", func(b []byte, last int) []byte { return b[:last+5] }, true},
		{"header only", func(b []byte, last int) []byte { return b[:last+8] }, true},
		{"flipped payload byte", func(b []byte, last int) []byte { b[last+20] ^= 0x40; return b }, true},
		{"flipped length", func(b []byte, last int) []byte { b[last] ^= 0x01; return b }, true},
		{"zeroed tail", func(b []byte, last int) []byte { clear(b[last:]); return b }, true},
		{"garbage appended", func(b []byte, _ int) []byte { return append(b, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			g := NewSynthetic(contractDim, 3, 0, 10)
			e := openTestEmbedded(t, dir, contractDim)
			docs := [][]Chunk{testChunks(g, "d0", 4), testChunks(g, "d1", 4), testChunks(g, "d2", 4)}
			var last int64
			for i, cs := range docs {
				last = e.walSize
				mustUpsert(t, e, Document{ID: fmt.Sprint("d", i)}, cs)
			}
			e.wal.Close()
			e.lock.Close()

			b, err := os.ReadFile(dir + "/wal")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir+"/wal", tt.damage(b, int(last)), 0o644); err != nil {
				t.Fatal(err)
			}

			e = openTestEmbedded(t, dir, contractDim)
			want := 3
			if tt.lost {
				want = 2
			}
			wantCount(t, e, want, want*4)
			_, err = e.Document(ctx, "d2")
			if tt.lost != errors.Is(err, ErrNotFound) {
				t.Errorf("Document(d2) error = %v, lost = %v", err, tt.lost)
			}
			// New writes land after the last whole record, not after the
			// damage, so they survive the next reopen.
			more := testChunks(g, "d3", 4)
			mustUpsert(t, e, Document{ID: "d3"}, more)
			e.wal.Close()
			e.lock.Close()
			e = openTestEmbedded(t, dir, contractDim)
			defer e.Close()
			wantCount(t, e, want+1, (want+1)*4)
			hits, err := e.Search(ctx, more[2].Embedding, 1, Filter{})
			if err != nil || len(hits) != 1 || hits[0].Chunk.Text != more[2].Text {
				t.Errorf("record written after recovery not found: %v %v", hits, err)
			}
		})
	}
}

// TestDamagedSnapshot checks that a damaged snapshot, which unlike the
// log's tail is never expected, stops the open instead of losing data.
func TestDamagedSnapshot(t *testing.T) {
	dir := t.TempDir()
	g := NewSynthetic(contractDim, 3, 0, 11)
	e := openTestEmbedded(t, dir, contractDim)
	mustUpsert(t, e, Document{ID: "d"}, testChunks(g, "d", 4))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dir + "/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.WriteFile(dir+"/snapshot", b, 0o644)
	if _, err := OpenEmbedded(dir, contractDim, EmbeddedOptions{}); err == nil || !strings.Contains(err.Error(), "snapshot") {
		t.Errorf("open with a damaged snapshot: error %v, want one about the snapshot", err)
	}
}

// FuzzRecordReader feeds arbitrary bytes to the log reader: it must never
// panic, and every record it accepts must re-encode to the same bytes.
func FuzzRecordReader(f *testing.F) {
	g := NewSynthetic(4, 1, 0, 12)
	doc := Document{ID: "d", Title: "T", DataOwner: "o", Tags: []string{"a"}}
	f.Add(encodeRecord(record{op: opUpsert, doc: doc, chunks: []Chunk{{ID: "d#0", Text: "x", Embedding: g.Next(), Meta: map[string]string{"k": "v"}}}}))
	f.Add(encodeRecord(record{op: opDelete, id: "d"}))
	f.Add(append(encodeRecord(record{op: opEnd, count: 3}), 1, 2, 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rr := newRecordReader(bytes.NewReader(b))
		var off int64
		for {
			rec, err := rr.next()
			if err != nil {
				return
			}
			enc := encodeRecord(rec)
			if !bytes.Equal(enc, b[off:rr.good]) && rec.op != opUpsert {
				// Upserts may differ in how empty lists and maps are
				// written; others are canonical.
				t.Fatalf("record at %d re-encodes differently", off)
			}
			off = rr.good
		}
	})
}
