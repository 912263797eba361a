package engine

import "strings"

// stopWriter passes generated text on to a callback, cutting it at the
// first stop string. Text that could be the start of a stop string is held
// back until it is known not to be one, so neither a stop string nor
// anything after it ever reaches the callback.
type stopWriter struct {
	stops   []string
	maxStop int
	fn      func(string) error
	text    strings.Builder // everything generated
	emitted int             // bytes of text passed to fn
	cut     int             // where the stop string begins, once stopped
	stopped bool
}

func newStopWriter(stops []string, fn func(string) error) *stopWriter {
	w := &stopWriter{fn: fn}
	for _, s := range stops {
		if s != "" {
			w.stops = append(w.stops, s)
			w.maxStop = max(w.maxStop, len(s))
		}
	}
	return w
}

// write adds a piece of text and reports whether a stop string was found.
func (w *stopWriter) write(piece string) (bool, error) {
	if w.stopped || piece == "" {
		return w.stopped, nil
	}
	// A stop string not found before must end in the new piece.
	from := max(0, w.text.Len()-w.maxStop+1)
	w.text.WriteString(piece)
	s := w.text.String()
	cut := -1
	for _, st := range w.stops {
		if i := strings.Index(s[from:], st); i >= 0 && (cut < 0 || from+i < cut) {
			cut = from + i
		}
	}
	if cut >= 0 {
		w.stopped, w.cut = true, cut
		return true, w.emit(s[:cut])
	}
	return false, w.emit(s[:len(s)-w.heldBack(s)])
}

// heldBack is the length of the longest suffix of s that is a proper
// prefix of a stop string.
func (w *stopWriter) heldBack(s string) int {
	n := 0
	for _, st := range w.stops {
		for k := min(len(st)-1, len(s)); k > n; k-- {
			if strings.HasSuffix(s, st[:k]) {
				n = k
				break
			}
		}
	}
	return n
}

func (w *stopWriter) emit(upTo string) error {
	if len(upTo) <= w.emitted {
		return nil
	}
	piece := upTo[w.emitted:]
	w.emitted = len(upTo)
	if w.fn == nil {
		return nil
	}
	return w.fn(piece)
}

// close passes on what was held back: the generation ended without
// completing a stop string.
func (w *stopWriter) close() error {
	if w.stopped {
		return nil
	}
	return w.emit(w.text.String())
}

// end is the length of the generated text after cutting.
func (w *stopWriter) end() int {
	if w.stopped {
		return w.cut
	}
	return w.text.Len()
}
