package retrieval

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"time"
)

// CorruptError is a damaged record in the middle of the knowledge log:
// acknowledged records follow it, so the store refuses to open rather
// than drop them (a damaged last record, left by a crash mid-write, is a
// torn tail and is cut off instead). RepairEmbedded salvages every intact
// record.
type CorruptError struct {
	File   string
	Offset int64 // where the damaged record starts
	Next   int64 // where the next intact record starts
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("retrieval: %s is corrupt at offset %d (%v) and intact records follow at offset %d; nothing was changed: run `gateway repair` to salvage every intact record", e.File, e.Offset, e.Err, e.Next)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// nextRecord is the offset in data of the first intact record (whole, with
// a matching checksum, decodable) at or after from, or -1.
func nextRecord(data []byte, from int) int {
	for i := from; i+8 <= len(data); i++ {
		size := binary.LittleEndian.Uint32(data[i:])
		if size == 0 || size > maxRecord || int64(i)+8+int64(size) > int64(len(data)) {
			continue
		}
		p := data[i+8 : i+8+int(size)]
		if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(data[i+4:]) {
			continue
		}
		if _, err := decodePayload(p); err != nil {
			continue
		}
		return i
	}
	return -1
}

// LostRange is a stretch of the log repair could not read.
type LostRange struct {
	Offset int64 `json:"offset"`
	Bytes  int64 `json:"bytes"`
}

// RepairReport says what RepairEmbedded kept and lost.
type RepairReport struct {
	Log     string      `json:"log"`
	Kept    int         `json:"records_kept"`
	Lost    []LostRange `json:"lost"`
	Backup  string      `json:"backup,omitempty"` // the damaged log, kept aside
	Changed bool        `json:"changed"`
}

// RepairEmbedded rewrites the log of the store in dir with every intact
// record, skipping damaged stretches, and keeps the damaged log aside as
// wal.corrupt-TIMESTAMP. The store must not be open.
func RepairEmbedded(dir string) (RepairReport, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return RepairReport{}, err
	}
	defer lock.Close()
	path := dir + "/wal"
	rep := RepairReport{Log: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("retrieval: %w", err)
	}
	var out []byte
	for off := 0; off < len(data); {
		next := nextRecord(data, off)
		if next != off {
			end := next
			if end < 0 {
				end = len(data)
			}
			rep.Lost = append(rep.Lost, LostRange{Offset: int64(off), Bytes: int64(end - off)})
			if next < 0 {
				break
			}
		}
		size := int(binary.LittleEndian.Uint32(data[next:]))
		out = append(out, data[next:next+8+size]...)
		rep.Kept++
		off = next + 8 + size
	}
	if len(rep.Lost) == 0 {
		return rep, nil
	}
	rep.Backup = fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.WriteFile(rep.Backup, data, 0o644); err != nil {
		return rep, fmt.Errorf("retrieval: keeping the damaged log: %w", err)
	}
	if err := writeFileAtomic(path, out, true); err != nil {
		return rep, err
	}
	rep.Changed = true
	return rep, syncDir(dir, true)
}
