//go:build linux || darwin || freebsd || netbsd || openbsd

package sqlitegrant

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walIndex is the WAL-index header of a database, mapped read-only. The
// mapping is released when the walIndex is garbage, not at Close, so that
// a Lookup racing with Close never reads unmapped memory.
type walIndex struct {
	mem []byte
}

// mapWALIndex maps the header of the WAL-index file shm. It fails if the
// file is missing, too short, or not in the format the header's version
// field says this code reads.
func mapWALIndex(shm string) (*walIndex, error) {
	f, err := os.Open(shm)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < walHeaderSize {
		return nil, fmt.Errorf("%s: %d bytes, fewer than a WAL-index header", shm, fi.Size())
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, walHeaderSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", shm, err)
	}
	w := &walIndex{mem: mem}
	runtime.AddCleanup(w, func(mem []byte) { syscall.Munmap(mem) }, mem)
	// iVersion (a native-endian u32 at 0) and isInit (a byte at 12), in
	// both copies.
	h := w.read()
	b := unsafe.Slice((*byte)(unsafe.Pointer(&h[0])), walHeaderSize)
	for _, c := range [][]byte{b[:48], b[48:]} {
		if binary.NativeEndian.Uint32(c) != walIndexVersion || c[12] != 1 {
			return nil, errors.New(shm + ": not an initialized WAL index of version 3007000")
		}
	}
	return w, nil
}

// read returns the header as it is now. Each word is loaded atomically, but
// a read racing with a commit may mix old and new words. Such a mix equals
// the header the commit leaves only if it holds all of the commit's
// changes, and then every reader starting after it sees the commit; so
// sync's reasoning holds for mixed reads too.
func (w *walIndex) read() (h walHeader) {
	p := unsafe.Pointer(unsafe.SliceData(w.mem))
	for i := range h {
		h[i] = atomic.LoadUint64((*uint64)(unsafe.Add(p, 8*i)))
	}
	runtime.KeepAlive(w)
	return h
}
