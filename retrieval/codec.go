package retrieval

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"time"
)

// The embedded store's log and snapshot are sequences of framed records:
//
//	length uint32 LE | crc32c(payload) uint32 LE | payload
//
// A payload is an op byte then its fields, strings and slices prefixed by
// their uvarint length, embeddings as raw little-endian float32.

const (
	opUpsert byte = 1
	opDelete byte = 2
	opEnd    byte = 3 // a snapshot's last record: number of documents
	opGraph  byte = 4 // a snapshot's saved graph (see graph.go)

	maxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a record that ends early or fails its checksum: the tail of
// a log written when the process died.
var errTorn = errors.New("torn or corrupt record")

type record struct {
	op     byte
	doc    Document
	chunks []Chunk
	id     string // opDelete
	count  int    // opEnd
	graph  []byte // opGraph
}

type encoder struct{ b []byte }

func (e *encoder) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }
func (e *encoder) varint(x int64)   { e.b = binary.AppendVarint(e.b, x) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) meta(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) floats(v []float32) {
	e.uvarint(uint64(len(v)))
	for _, x := range v {
		e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(x))
	}
}

// encodeRecord returns r framed, ready to append to a log.
func encodeRecord(r record) []byte {
	e := encoder{b: make([]byte, 8, 256)}
	e.b = append(e.b, r.op)
	switch r.op {
	case opUpsert:
		d := r.doc
		e.str(d.ID)
		e.str(d.Title)
		e.str(d.DataOwner)
		e.strs(d.Tags)
		e.str(d.ContentHash)
		e.varint(d.CreatedAt.UnixMicro())
		e.uvarint(uint64(len(r.chunks)))
		for _, c := range r.chunks {
			e.str(c.ID)
			e.varint(int64(c.Seq))
			e.str(c.Text)
			e.str(c.DataOwner)
			e.strs(c.Tags)
			e.meta(c.Meta)
			e.floats(c.Embedding)
		}
	case opDelete:
		e.str(r.id)
	case opEnd:
		e.uvarint(uint64(r.count))
	case opGraph:
		e.b = append(e.b, r.graph...)
	}
	p := e.b[8:]
	binary.LittleEndian.PutUint32(e.b[0:], uint32(len(p)))
	binary.LittleEndian.PutUint32(e.b[4:], crc32.Checksum(p, castagnoli))
	return e.b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: malformed payload", errTorn)
	}
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) varint() int64 {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) length(unit int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/unit) {
		d.fail()
		d.b = nil
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.length(1)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.length(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) meta() map[string]string {
	n := d.length(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *decoder) floats() []float32 {
	n := d.length(4)
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(d.b[4*i:]))
	}
	d.b = d.b[4*n:]
	return v
}

func decodePayload(p []byte) (record, error) {
	if len(p) == 0 {
		return record{}, fmt.Errorf("%w: empty payload", errTorn)
	}
	d := decoder{b: p[1:]}
	r := record{op: p[0]}
	switch r.op {
	case opUpsert:
		r.doc.ID = d.str()
		r.doc.Title = d.str()
		r.doc.DataOwner = d.str()
		r.doc.Tags = d.strs()
		r.doc.ContentHash = d.str()
		r.doc.CreatedAt = time.UnixMicro(d.varint()).UTC()
		n := d.length(1)
		r.chunks = make([]Chunk, n)
		for i := range r.chunks {
			c := &r.chunks[i]
			c.ID = d.str()
			c.DocID = r.doc.ID
			c.Seq = int(d.varint())
			c.Text = d.str()
			c.DataOwner = d.str()
			c.Tags = d.strs()
			c.Meta = d.meta()
			c.Embedding = d.floats()
		}
		r.doc.Chunks = n
	case opDelete:
		r.id = d.str()
	case opEnd:
		r.count = int(d.uvarint())
	case opGraph:
		r.graph = append([]byte(nil), d.b...)
		d.b = nil
	default:
		return r, fmt.Errorf("%w: unknown op %d", errTorn, r.op)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errTorn, len(d.b))
	}
	return r, d.err
}

// recordReader reads framed records, tracking the offset of the end of the
// last good one so a torn tail can be cut off.
type recordReader struct {
	r    *bufio.Reader
	good int64
	buf  []byte
}

func newRecordReader(r io.Reader) *recordReader {
	return &recordReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next record, io.EOF at a clean end, or an error wrapping
// errTorn for an incomplete or corrupt one.
func (rr *recordReader) next() (record, error) {
	var h [8]byte
	if n, err := io.ReadFull(rr.r, h[:]); err != nil {
		if err == io.EOF {
			return record{}, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return record{}, fmt.Errorf("%w: header cut short after %d bytes", errTorn, n)
		}
		return record{}, err
	}
	size := binary.LittleEndian.Uint32(h[0:])
	sum := binary.LittleEndian.Uint32(h[4:])
	if size == 0 || size > maxRecord {
		return record{}, fmt.Errorf("%w: implausible length %d", errTorn, size)
	}
	if cap(rr.buf) < int(size) {
		rr.buf = make([]byte, size)
	}
	p := rr.buf[:size]
	if _, err := io.ReadFull(rr.r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return record{}, fmt.Errorf("%w: payload cut short", errTorn)
		}
		return record{}, err
	}
	if crc32.Checksum(p, castagnoli) != sum {
		return record{}, fmt.Errorf("%w: checksum mismatch", errTorn)
	}
	rec, err := decodePayload(p)
	if err != nil {
		return rec, err
	}
	rr.good += 8 + int64(size)
	return rec, nil
}
