package retrieval

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The graph is saved with each snapshot so that opening a large store
// loads it instead of rebuilding it. Node ids in the saved graph are
// positions in the snapshot (documents in order, their chunks in order),
// so deleted nodes are dropped and ids renumbered on the way out.
//
//	nodes uvarint | entry uvarint | then per node: level uvarint,
//	per layer 0..level: count uvarint, links uvarint...

const maxGraphLevel = 64

// exportGraph encodes the subgraph of the nodes in order, renumbered by
// position. Links to nodes outside order are dropped.
func (h *hnsw) exportGraph(order []uint32) []byte {
	renum := make(map[uint32]uint32, len(order))
	for i, id := range order {
		renum[id] = uint32(i)
	}
	h.mu.RLock()
	entry, hasEntry := h.entry, h.hasEntry
	h.mu.RUnlock()
	newEntry, ok := renum[entry]
	if !hasEntry || !ok {
		// The entry point was deleted: the highest remaining node takes over.
		best := int32(-1)
		for i, id := range order {
			if l := h.node(id).level; l > best {
				best, newEntry = l, uint32(i)
			}
		}
	}
	b := binary.AppendUvarint(nil, uint64(len(order)))
	b = binary.AppendUvarint(b, uint64(newEntry))
	var buf []uint32
	for _, id := range order {
		level := int(h.node(id).level)
		b = binary.AppendUvarint(b, uint64(level))
		for l := 0; l <= level; l++ {
			buf = h.links(id, l, buf[:0])
			kept := buf[:0]
			for _, x := range buf {
				if y, ok := renum[x]; ok {
					kept = append(kept, y)
				}
			}
			b = binary.AppendUvarint(b, uint64(len(kept)))
			for _, y := range kept {
				b = binary.AppendUvarint(b, uint64(y))
			}
		}
	}
	return b
}

var errBadGraph = errors.New("retrieval: malformed saved graph")

// importGraph rebuilds a graph from its export and the vectors of its
// nodes, in the same order, without a single distance computation.
func importGraph(dim int, opts HNSWOptions, vecs [][]float32, g []byte) (*hnsw, error) {
	d := decoder{b: g}
	n := d.uvarint()
	entry := d.uvarint()
	if d.err != nil || n != uint64(len(vecs)) || (n > 0 && entry >= n) {
		return nil, fmt.Errorf("%w: header (%d nodes for %d vectors)", errBadGraph, n, len(vecs))
	}
	h := newHNSW(dim, opts)
	maxLevel := 0
	for i, v := range vecs {
		level := d.uvarint()
		if d.err != nil || level > maxGraphLevel {
			return nil, fmt.Errorf("%w: node %d", errBadGraph, i)
		}
		id, _ := h.alloc(v)
		nd := h.node(id)
		nd.level = int32(level)
		nd.links = make([][]uint32, level+1)
		for l := range nd.links {
			count := d.length(1)
			links := make([]uint32, count, max(count, h.maxLinks(l))+1)
			for j := range links {
				x := d.uvarint()
				if x >= n {
					return nil, fmt.Errorf("%w: node %d links to %d", errBadGraph, i, x)
				}
				links[j] = uint32(x)
			}
			nd.links[l] = links
		}
		if d.err != nil {
			return nil, fmt.Errorf("%w: node %d", errBadGraph, i)
		}
		maxLevel = max(maxLevel, int(level))
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadGraph, len(d.b))
	}
	if n > 0 {
		h.entry, h.hasEntry = uint32(entry), true
		h.maxLevel = int(h.node(uint32(entry)).level)
	}
	return h, nil
}
