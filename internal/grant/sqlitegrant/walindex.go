package sqlitegrant

// walHeader is the WAL-index header: two copies of SQLite's WalIndexHdr, 48
// bytes each, at the start of the "-shm" file. A commit rewrites both (the
// second first), so a commit since a copy was taken changes it.
type walHeader [12]uint64

const (
	walHeaderSize   = 96
	walIndexVersion = 3007000 // WalIndexHdr.iVersion for the format this reads
)
