package retrieval

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/moegate/moegate/internal/vec"

	"github.com/moegate/moegate/internal/units"
)

// EmbeddedOptions configures an embedded store.
type EmbeddedOptions struct {
	HNSW HNSWOptions
	// SnapshotBytes is the log size that triggers a snapshot; default 64 MiB.
	SnapshotBytes int64
	// NoSync skips fsync: faster, and a crash may lose acknowledged writes.
	// For benchmarks and throwaway stores only.
	NoSync bool
	Logger *slog.Logger // nil: discard
}

// Embedded is a Store held in memory and persisted in a directory:
//
//	meta.json  format version and dimension
//	snapshot   every document at some point, written atomically
//	wal        upserts and deletes since the snapshot, fsynced per record
//	LOCK       held while open
//
// On open the snapshot is loaded, the log replayed (a torn tail record,
// left by a crash mid-write, is cut off) and the graph rebuilt.
type Embedded struct {
	dir  string
	dim  int
	opts EmbeddedOptions
	log  *slog.Logger
	lock *os.File

	mu      sync.RWMutex
	idx     *hnsw
	chunks  []Chunk // by node id, Embedding nil
	docs    map[string]*docEntry
	nchunks int
	// Node ids by data owner and by tag, deleted ones included until the
	// next compaction: a selective filter scans these instead of the graph.
	byOwner, byTag map[string][]uint32
	wal            *os.File
	walSize        int64
	broken         error // a log write failed and could not be undone
	closed         bool
}

type docEntry struct {
	doc   Document
	nodes []uint32
}

type storeMeta struct {
	Version int `json:"version"`
	Dim     int `json:"dim"`
}

// OpenEmbedded opens or creates the embedded store in dir for vectors of
// dimension dim. Opening an existing store with another dimension fails
// with ErrDimension.
func OpenEmbedded(dir string, dim int, opts EmbeddedOptions) (*Embedded, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("retrieval: invalid dimension %d", dim)
	}
	if opts.SnapshotBytes <= 0 {
		opts.SnapshotBytes = 64 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	// Temporary files a crash left behind (a half-written snapshot) are
	// never read; with the lock held no one else is writing them.
	for _, name := range []string{"snapshot.tmp", "meta.json.tmp"} {
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			log.Warn("retrieval: removed a temporary file left by a crash", "file", filepath.Join(dir, name))
		}
	}
	e := &Embedded{dir: dir, dim: dim, opts: opts, log: log, lock: lock}
	if err := e.open(); err != nil {
		lock.Close()
		return nil, err
	}
	return e, nil
}

func (e *Embedded) path(name string) string { return filepath.Join(e.dir, name) }

func (e *Embedded) open() error {
	switch b, err := os.ReadFile(e.path("meta.json")); {
	case errors.Is(err, fs.ErrNotExist):
		b, _ := json.Marshal(storeMeta{Version: 1, Dim: e.dim})
		if err := writeFileAtomic(e.path("meta.json"), b, !e.opts.NoSync); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("retrieval: %w", err)
	default:
		var m storeMeta
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("retrieval: %s: %w", e.path("meta.json"), err)
		}
		if m.Version != 1 {
			return fmt.Errorf("retrieval: %s: unsupported format version %d", e.dir, m.Version)
		}
		if m.Dim != e.dim {
			return fmt.Errorf("%w: the store in %s holds %d-dimensional vectors, not %d", ErrDimension, e.dir, m.Dim, e.dim)
		}
	}

	start := time.Now()
	snap, graph, err := e.loadSnapshot()
	if err != nil {
		return err
	}
	var logged []record
	good, err := e.replay(func(r record) { logged = append(logged, r) })
	if err != nil {
		return err
	}
	e.wal, err = os.OpenFile(e.path("wal"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("retrieval: %w", err)
	}
	if st, err := e.wal.Stat(); err == nil && st.Size() > good {
		e.log.Warn("retrieval: cutting a torn record off the log's tail", "dir", e.dir, "bytes", st.Size()-good)
		if err := e.wal.Truncate(good); err != nil {
			return fmt.Errorf("retrieval: truncating the log: %w", err)
		}
		if err := e.sync(e.wal); err != nil {
			return err
		}
	}
	if _, err := e.wal.Seek(good, io.SeekStart); err != nil {
		return fmt.Errorf("retrieval: %w", err)
	}
	e.walSize = good
	if err := syncDir(e.dir, !e.opts.NoSync); err != nil {
		return err
	}
	loaded := false
	if graph != nil {
		if err := e.install(snap, graph); err != nil {
			e.log.Warn("retrieval: cannot use the saved graph; rebuilding it", "err", err)
		} else {
			loaded = true
			for _, r := range logged {
				e.apply(r)
			}
			if n := e.idx.Repair(); n > 0 {
				e.log.Info("retrieval: reconnected unreachable index nodes", "nodes", n)
			}
		}
	}
	if !loaded {
		state := make(map[string]*record, len(snap))
		for _, r := range snap {
			state[r.doc.ID] = r
		}
		for _, r := range logged {
			switch r.op {
			case opUpsert:
				state[r.doc.ID] = &r
			case opDelete:
				delete(state, r.id)
			}
		}
		e.rebuild(state)
	}
	e.log.Info("retrieval: embedded store open", "dir", e.dir, "documents", len(e.docs), "chunks", e.nchunks,
		"replayed", len(logged), "graph_loaded", loaded, "duration_ms", units.MS(time.Since(start)))
	return nil
}

// install replaces the in-memory state with the snapshot's documents and
// their saved graph.
func (e *Embedded) install(docs []*record, graph []byte) error {
	var vecs [][]float32
	for _, r := range docs {
		for _, c := range r.chunks {
			vecs = append(vecs, c.Embedding)
		}
	}
	idx, err := importGraph(e.dim, e.opts.HNSW, vecs, graph)
	if err != nil {
		return err
	}
	e.idx = idx
	e.chunks = make([]Chunk, len(vecs))
	e.docs = make(map[string]*docEntry, len(docs))
	e.nchunks = len(vecs)
	e.byOwner, e.byTag = map[string][]uint32{}, map[string][]uint32{}
	i := 0
	for _, r := range docs {
		d := &docEntry{doc: r.doc, nodes: make([]uint32, len(r.chunks))}
		for j, c := range r.chunks {
			c.Embedding = nil
			e.chunks[i] = c
			d.nodes[j] = uint32(i)
			e.post(uint32(i), &c)
			i++
		}
		e.docs[r.doc.ID] = d
	}
	return nil
}

// apply applies a logged change to memory.
func (e *Embedded) apply(r record) {
	switch r.op {
	case opUpsert:
		e.remove(r.doc.ID)
		ptrs := make([]*Chunk, len(r.chunks))
		for i := range r.chunks {
			ptrs[i] = &r.chunks[i]
		}
		e.docs[r.doc.ID] = &docEntry{doc: r.doc, nodes: e.addAll(ptrs, nil)}
	case opDelete:
		e.remove(r.id)
	}
}

// loadSnapshot returns the snapshot's documents in order and its saved
// graph, if any.
func (e *Embedded) loadSnapshot() ([]*record, []byte, error) {
	f, err := os.Open(e.path("snapshot"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("retrieval: %w", err)
	}
	defer f.Close()
	rr := newRecordReader(f)
	var docs []*record
	var graph []byte
	for {
		rec, err := rr.next()
		if err != nil {
			// The snapshot was renamed into place only when complete, so
			// unlike the log's tail any damage here is real corruption.
			return nil, nil, fmt.Errorf("retrieval: snapshot %s is damaged (%w); restore it or move it away to start from the log alone", e.path("snapshot"), err)
		}
		switch rec.op {
		case opEnd:
			if rec.count != len(docs) {
				return nil, nil, fmt.Errorf("retrieval: snapshot %s holds %d documents, its trailer says %d", e.path("snapshot"), len(docs), rec.count)
			}
			return docs, graph, nil
		case opGraph:
			graph = rec.graph
		case opUpsert:
			docs = append(docs, &rec)
		}
	}
}

// replay reads the log, passing each whole record to fn, and returns the
// offset after the last one.
func (e *Embedded) replay(fn func(record)) (good int64, err error) {
	f, err := os.Open(e.path("wal"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("retrieval: %w", err)
	}
	defer f.Close()
	rr := newRecordReader(f)
	for {
		rec, err := rr.next()
		if err == io.EOF {
			return rr.good, nil
		}
		if errors.Is(err, errTorn) {
			// Each record is fsynced before it is acknowledged, so only the
			// last, unacknowledged one can be incomplete. A damaged record
			// with an intact one after it is not a torn tail: refuse to
			// open rather than drop acknowledged records.
			if next, ok := intactAfter(e.path("wal"), rr.good); ok {
				return 0, &CorruptError{File: e.path("wal"), Offset: rr.good, Next: next, Err: err}
			}
			e.log.Warn("retrieval: log ends in a torn record; ignoring it", "offset", rr.good, "err", err)
			return rr.good, nil
		}
		if err != nil {
			return 0, fmt.Errorf("retrieval: reading the log: %w", err)
		}
		fn(rec)
	}
}

// intactAfter reports whether the log at path holds an intact record
// after the damaged one at offset, and where.
func intactAfter(path string, offset int64) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil || offset >= int64(len(data)) {
		return 0, false
	}
	next := nextRecord(data, int(offset)+1)
	return int64(next), next >= 0
}

// rebuild replaces the in-memory state with state's documents, building
// the graph on all cores.
func (e *Embedded) rebuild(state map[string]*record) {
	ids := slices.Sorted(maps.Keys(state))
	total := 0
	for _, id := range ids {
		total += len(state[id].chunks)
	}
	e.idx = newHNSW(e.dim, e.opts.HNSW)
	e.chunks = make([]Chunk, total)
	e.docs = make(map[string]*docEntry, len(ids))
	e.nchunks = 0
	e.byOwner, e.byTag = map[string][]uint32{}, map[string][]uint32{}
	all := make([]*Chunk, 0, total)
	for _, id := range ids {
		rec := state[id]
		e.docs[id] = &docEntry{doc: rec.doc, nodes: make([]uint32, len(rec.chunks))}
		for i := range rec.chunks {
			all = append(all, &rec.chunks[i])
		}
	}
	start := time.Now()
	nodes := e.addAll(all, func(done int) {
		e.log.Info("retrieval: building the index", "chunks", done, "of", total, "duration_ms", units.MS(time.Since(start)))
	})
	if n := e.idx.Repair(); n > 0 {
		e.log.Info("retrieval: reconnected unreachable index nodes", "nodes", n)
	}
	i := 0
	for _, id := range ids {
		d := e.docs[id]
		for j := range d.nodes {
			d.nodes[j] = nodes[i]
			i++
		}
	}
}

// addAll inserts chunks into the graph, in parallel when there are many,
// records them by node id and returns their node ids. progress, if set, is
// called every 10% for large batches.
func (e *Embedded) addAll(chunks []*Chunk, progress func(done int)) []uint32 {
	nodes := make([]uint32, len(chunks))
	workers := 1
	if len(chunks) >= 256 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		mu   sync.Mutex
		next int
		wg   sync.WaitGroup
	)
	step := max(len(chunks)/10, 1)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(chunks) {
					return
				}
				nodes[i] = e.idx.Add(chunks[i].Embedding)
				if progress != nil && len(chunks) >= 50000 && (i+1)%step == 0 {
					progress(i + 1)
				}
			}
		})
	}
	wg.Wait()
	if e.idx.SinceRepair() >= max(256, e.idx.Len()/20) {
		if n := e.idx.Repair(); n > 0 {
			e.log.Info("retrieval: reconnected unreachable index nodes", "nodes", n)
		}
	}
	if n := e.idx.Len(); n > len(e.chunks) {
		e.chunks = slices.Grow(e.chunks, n-len(e.chunks))[:n]
	}
	for i, c := range chunks {
		cc := *c
		cc.Embedding = nil
		e.chunks[nodes[i]] = cc
		e.post(nodes[i], c)
	}
	e.nchunks += len(chunks)
	return nodes
}

// post adds node id to the postings of its chunk's owner and tags.
func (e *Embedded) post(id uint32, c *Chunk) {
	e.byOwner[c.DataOwner] = append(e.byOwner[c.DataOwner], id)
	for _, t := range c.Tags {
		e.byTag[t] = append(e.byTag[t], id)
	}
}

// candidates returns the postings that cover every chunk f can allow, when
// f restricts owners or tags to a set small enough to scan, else nil.
func (e *Embedded) candidates(f Filter) [][]uint32 {
	collect := func(keys []string, m map[string][]uint32) ([][]uint32, int) {
		var lists [][]uint32
		n := 0
		for _, k := range keys {
			if l := m[k]; len(l) > 0 {
				lists = append(lists, l)
				n += len(l)
			}
		}
		return lists, n
	}
	best, size := [][]uint32(nil), -1
	if len(f.OnlyDataOwners) > 0 {
		best, size = collect(f.OnlyDataOwners, e.byOwner)
	}
	if len(f.Tags) > 0 {
		if lists, n := collect(f.Tags, e.byTag); size < 0 || n < size {
			best, size = lists, n
		}
	}
	if size < 0 || size > scanFilteredBelow {
		return nil
	}
	if best == nil {
		return [][]uint32{} // nothing can match
	}
	return best
}

// scanFilteredBelow is the candidate count up to which a filtered search
// scans the filter's postings instead of walking the graph, where most
// nodes visited would be rejected.
const scanFilteredBelow = 4096

func (e *Embedded) sync(f *os.File) error {
	if e.opts.NoSync {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("retrieval: fsync: %w", err)
	}
	return nil
}

// appendLog writes one record and syncs it. If that fails the log is cut
// back so a half-written record never sits before later ones.
func (e *Embedded) appendLog(rec record) error {
	if e.broken != nil {
		return e.broken
	}
	b := encodeRecord(rec)
	_, err := e.wal.Write(b)
	if err == nil {
		err = e.sync(e.wal)
	}
	if err != nil {
		if terr := e.wal.Truncate(e.walSize); terr != nil {
			e.broken = fmt.Errorf("retrieval: log unusable after a failed write (%v): %w", err, terr)
			return e.broken
		}
		if _, serr := e.wal.Seek(e.walSize, io.SeekStart); serr != nil {
			e.broken = fmt.Errorf("retrieval: log unusable after a failed write (%v): %w", err, serr)
			return e.broken
		}
		return fmt.Errorf("retrieval: writing the log: %w", err)
	}
	e.walSize += int64(len(b))
	return nil
}

// Upsert implements Store.
func (e *Embedded) Upsert(ctx context.Context, doc Document, chunks []Chunk) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	doc, chunks, err := prepare(doc, chunks, e.dim)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.appendLog(record{op: opUpsert, doc: doc, chunks: chunks}); err != nil {
		return err
	}
	e.apply(record{op: opUpsert, doc: doc, chunks: chunks})
	return e.maybeSnapshot()
}

// remove drops a document from memory; the caller has logged it.
func (e *Embedded) remove(id string) bool {
	d, ok := e.docs[id]
	if !ok {
		return false
	}
	for _, n := range d.nodes {
		e.idx.Delete(n)
		e.chunks[n] = Chunk{}
	}
	e.nchunks -= len(d.nodes)
	delete(e.docs, id)
	return true
}

// DeleteDocument implements Store.
func (e *Embedded) DeleteDocument(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if _, ok := e.docs[id]; !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err := e.appendLog(record{op: opDelete, id: id}); err != nil {
		return err
	}
	e.remove(id)
	return e.maybeSnapshot()
}

// Search implements Store.
func (e *Embedded) Search(ctx context.Context, query []float32, k int, f Filter) ([]Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(query) != e.dim {
		return nil, fmt.Errorf("%w: query has %d dimensions, the store %d", ErrDimension, len(query), e.dim)
	}
	e.mu.RLock()
	empty := e.nchunks == 0 && !e.closed
	e.mu.RUnlock()
	if empty {
		// Every routed query searches: an empty store answers at once
		// rather than after copying and normalising the vector.
		return nil, nil
	}
	q := slices.Clone(query)
	if !vec.Normalize(q) {
		return nil, errors.New("retrieval: zero or non-finite query vector")
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	var accept func(uint32) bool
	if m := compile(f); m != nil {
		accept = func(id uint32) bool {
			c := &e.chunks[id]
			return m.match(c.DataOwner, c.Tags)
		}
	}
	var res []candidate
	if lists := e.candidates(f); lists != nil {
		res = e.idx.Scan(q, k, lists, accept)
	} else {
		res = e.idx.Search(q, k, 0, accept)
	}
	hits := make([]Hit, len(res))
	for i, r := range res {
		c := e.chunks[r.id]
		c.Tags = slices.Clone(c.Tags)
		c.Meta = maps.Clone(c.Meta)
		hits[i] = Hit{Chunk: c, Score: float64(1 - r.dist)}
	}
	return hits, nil
}

// Count implements Store.
func (e *Embedded) Count(ctx context.Context) (docs, chunks int, err error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.docs), e.nchunks, nil
}

// Documents implements Store; they are sorted by ID.
func (e *Embedded) Documents(ctx context.Context) ([]Document, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Document, 0, len(e.docs))
	for _, d := range e.docs {
		doc := d.doc
		doc.Tags = slices.Clone(doc.Tags)
		out = append(out, doc)
	}
	slices.SortFunc(out, func(a, b Document) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Document implements Store.
func (e *Embedded) Document(ctx context.Context, id string) (Document, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	d, ok := e.docs[id]
	if !ok {
		return Document{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	doc := d.doc
	doc.Tags = slices.Clone(doc.Tags)
	return doc, nil
}

func (e *Embedded) maybeSnapshot() error {
	if e.walSize < e.opts.SnapshotBytes {
		return nil
	}
	return e.snapshot()
}

// snapshot writes every document to a new snapshot file, swaps it in
// atomically and empties the log. A crash at any point leaves either the
// old snapshot with the full log or the new one with a log whose records
// it already contains; replaying those again is harmless. When deleted
// nodes make up over a quarter of the graph, it is rebuilt without them.
func (e *Embedded) snapshot() error {
	if e.broken != nil {
		return e.broken
	}
	start := time.Now()
	tmp := e.path("snapshot.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("retrieval: snapshot: %w", err)
	}
	defer os.Remove(tmp) // a no-op after the rename
	w := bufio.NewWriterSize(f, 1<<20)
	ids := slices.Sorted(maps.Keys(e.docs))
	docs := make([]*record, len(ids))
	var order []uint32
	for i, id := range ids {
		d := e.docs[id]
		chunks := make([]Chunk, len(d.nodes))
		for i, n := range d.nodes {
			chunks[i] = e.chunks[n]
			chunks[i].Embedding = e.idx.vec(n)
		}
		order = append(order, d.nodes...)
		docs[i] = &record{op: opUpsert, doc: d.doc, chunks: chunks}
		w.Write(encodeRecord(*docs[i]))
	}
	graph := e.idx.exportGraph(order)
	w.Write(encodeRecord(record{op: opGraph, graph: graph}))
	w.Write(encodeRecord(record{op: opEnd, count: len(ids)}))
	if err := w.Flush(); err != nil { // a bufio.Writer keeps its first error
		f.Close()
		return fmt.Errorf("retrieval: snapshot: %w", err)
	}
	if err := e.sync(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("retrieval: snapshot: %w", err)
	}
	if err := os.Rename(tmp, e.path("snapshot")); err != nil {
		return fmt.Errorf("retrieval: snapshot: %w", err)
	}
	if err := syncDir(e.dir, !e.opts.NoSync); err != nil {
		return err
	}
	if err := e.wal.Truncate(0); err != nil {
		e.broken = fmt.Errorf("retrieval: emptying the log after a snapshot: %w", err)
		return e.broken
	}
	if _, err := e.wal.Seek(0, io.SeekStart); err != nil {
		e.broken = fmt.Errorf("retrieval: emptying the log after a snapshot: %w", err)
		return e.broken
	}
	e.walSize = 0
	if err := e.sync(e.wal); err != nil {
		return err
	}
	e.log.Info("retrieval: snapshot written", "documents", len(ids), "chunks", e.nchunks, "duration_ms", units.MS(time.Since(start)))
	if dead := e.idx.Len() - e.idx.Live(); dead > 1000 && dead*4 > e.idx.Len() {
		// Compact: the saved graph is the live one without the deleted
		// nodes, so loading it back is all it takes.
		if err := e.install(docs, graph); err != nil {
			return fmt.Errorf("retrieval: compacting: %w", err)
		}
		e.idx.Repair()
	}
	return nil
}

// Close writes a snapshot if the log is not empty and releases the store.
func (e *Embedded) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var err error
	if e.walSize > 0 && e.broken == nil {
		err = e.snapshot()
	}
	err = errors.Join(err, e.wal.Close(), e.lock.Close())
	return err
}

func syncDir(dir string, do bool) error {
	if !do {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("retrieval: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return fmt.Errorf("retrieval: fsync %s: %w", dir, err)
	}
	return nil
}

func writeFileAtomic(path string, b []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("retrieval: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("retrieval: %w", err)
	}
	return syncDir(filepath.Dir(path), sync)
}
