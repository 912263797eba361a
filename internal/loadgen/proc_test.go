package loadgen

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/moegate/moegate/internal/cputime"
)

// TestThreadsRunTime checks the per-thread CPU sum against this thread's
// own CPU clock over a busy loop far shorter than a /proc/<pid>/stat tick
// would resolve well.
func TestThreadsRunTime(t *testing.T) {
	before, ok := threadsRunTime(os.Getpid())
	if !ok {
		t.Fatal("no /proc/<pid>/task/*/schedstat on this kernel: the overhead benchmark would fall back to 10 ms ticks")
	}
	runtime.LockOSThread() // the thread's clock must be this goroutine's
	defer runtime.UnlockOSThread()
	c0 := cputime.Thread()
	x := 1.0
	for cputime.Thread()-c0 < 3*time.Millisecond {
		for range 1000 {
			x = x*1.0000001 + 1e-9
		}
	}
	spent := cputime.Thread() - c0
	after, _ := threadsRunTime(os.Getpid())
	if d := after - before; d < spent*9/10 {
		t.Errorf("process run time grew %v while this thread spent %v (x=%v)", d, spent, x)
	}
}
