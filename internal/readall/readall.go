// Package readall reads a body whose length is usually announced, in one
// allocation of that length rather than io.ReadAll's growing slices (512
// bytes at first, whatever the body's size).
package readall

import "io"

// MaxHint is the largest size hint ReadAll allocates up front: a larger
// body grows as io.ReadAll grows it, with the bytes that actually arrive,
// so that a sender announcing a large body and sending it slowly (or not
// at all) does not hold that much memory. Chat bodies and answers are
// mostly a few KB; at 64 KiB, 500 clients trickling bodies they announced
// at 100 KB held 32 MB (tools/soak: the gateway's RSS peaked at 128 MB,
// at 16 KiB 81 MB).
const MaxHint = 16 << 10

// ReadAll is io.ReadAll(io.LimitReader(r, limit)) (limit < 0: no limit)
// starting with room for sizeHint bytes (a Content-Length; <= 0:
// unknown), trusted up to MaxHint and limit.
func ReadAll(r io.Reader, sizeHint, limit int64) ([]byte, error) {
	const unknownSize = 512 // io.ReadAll's first allocation
	size := int64(unknownSize)
	if sizeHint > 0 {
		// One byte more than announced, so that reading the end of the
		// body (a Read returning 0, io.EOF) does not grow the slice.
		size = min(sizeHint+1, MaxHint)
	}
	if limit >= 0 {
		size = min(size, limit)
	}
	b := make([]byte, 0, size)
	for {
		if limit >= 0 && int64(len(b)) >= limit {
			return b, nil // where io.LimitReader reports io.EOF
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grown as io.ReadAll grows it
		}
		room := b[len(b):cap(b)]
		if limit >= 0 {
			room = room[:min(int64(len(room)), limit-int64(len(b)))]
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}
