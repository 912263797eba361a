package wordnet

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/moegate/moegate/internal/offheap"
)

// residentKB returns the resident kilobytes of the mapping holding addr,
// from /proc/self/smaps.
func residentKB(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uintptr(l) <= addr && addr < uintptr(h)
			continue
		}
		if in && fields[0] == "Rss:" {
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}

func TestReleaseDropsResidentPages(t *testing.T) {
	addr := uintptr(unsafe.Pointer(unsafe.StringData(data)))
	sum := 0
	for i := 0; i < len(data); i += 512 {
		sum += int(data[i]) // every page resident
	}
	before := residentKB(t, addr)
	offheap.PageOut(source())
	after := residentKB(t, addr)
	if want := len(data)/1024 - 8; before-after < want {
		t.Errorf("resident %d kB before release, %d after: want %d kB fewer (the embedded lexicon's pages)", before, after, want)
	}
	again := 0
	for i := 0; i < len(data); i += 512 {
		again += int(data[i])
	}
	if again != sum {
		t.Error("the released data reads differently")
	}
}
