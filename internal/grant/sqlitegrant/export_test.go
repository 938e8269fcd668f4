package sqlitegrant

// NoWALIndex returns opts (nil means the defaults) with the Lookup fast
// path turned off, so that every Lookup refreshes.
func NoWALIndex(opts *Options) *Options {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.noWALIndex = true
	return &o
}

// FastPath reports whether s maps the WAL index.
func (s *Store) FastPath() bool { return s.wal != nil }
