package readall

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// ReadAll reads what io.ReadAll of an io.LimitReader reads, whatever the
// hint says, with readers that return a byte at a time, data with io.EOF,
// and errors.
func TestReadAllMatchesIOReadAll(t *testing.T) {
	long := strings.Repeat("moegate ", 200) // 1,600 bytes: past the unknown size
	boom := errors.New("boom")
	readers := []struct {
		name string
		make func(s string) io.Reader
	}{
		{"plain", func(s string) io.Reader { return strings.NewReader(s) }},
		{"byte at a time", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
		{"data with EOF", func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) }},
		{"error after data", func(s string) io.Reader { return io.MultiReader(strings.NewReader(s), iotest.ErrReader(boom)) }},
	}
	for _, tt := range []struct {
		name            string
		body            string
		sizeHint, limit int64
	}{
		{"empty", "", 0, -1},
		{"exact hint", "hello", 5, -1},
		{"no hint", long, 0, -1},
		{"hint too small", long, 10, -1},
		{"hint too large", "hi", 1000, -1},
		{"limit below body", long, int64(len(long)), 100},
		{"limit at body", "hello", 5, 5},
		{"limit above body", "hello", 5, 6},
		{"limit zero", "hello", 5, 0},
		{"huge hint, small limit", "hello", 1 << 40, 8},
	} {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				var want []byte
				var wantErr error
				if tt.limit >= 0 {
					want, wantErr = io.ReadAll(io.LimitReader(rd.make(tt.body), tt.limit))
				} else {
					want, wantErr = io.ReadAll(rd.make(tt.body))
				}
				got, err := ReadAll(rd.make(tt.body), tt.sizeHint, tt.limit)
				if !bytes.Equal(got, want) || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
					t.Fatalf("ReadAll = %q, %v; io.ReadAll = %q, %v", got, err, want, wantErr)
				}
			})
		}
	}
}

// With the length announced, the body is read in one allocation (io.ReadAll
// makes two for 600 bytes).
func TestReadAllOneAllocation(t *testing.T) {
	body := []byte(strings.Repeat("x", 600))
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(body)
		if _, err := ReadAll(r, int64(len(body)), 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Fatalf("%v allocations, want 1", allocs)
	}
}

// A hint is not trusted beyond MaxHint (or the limit): what is allocated
// up front follows the bytes a sender may never send only that far.
func TestReadAllBoundsTheHint(t *testing.T) {
	for _, tt := range []struct {
		name            string
		sizeHint, limit int64
		maxCap          int
	}{
		{"past MaxHint", 1 << 30, -1, MaxHint},
		{"past the limit", 1 << 30, 100, 100},
		{"within both", 1000, -1, 1001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ReadAll(strings.NewReader("hello"), tt.sizeHint, tt.limit)
			if err != nil || string(b) != "hello" || cap(b) > tt.maxCap {
				t.Fatalf("ReadAll = %q (cap %d), %v; want hello with cap <= %d", b, cap(b), err, tt.maxCap)
			}
		})
	}
}
