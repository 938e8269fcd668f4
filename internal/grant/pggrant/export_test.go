package pggrant

// WithBeforeSync returns opts (nil means the defaults) with f called before
// each sync of the store's listener.
func WithBeforeSync(opts *Options, f func()) *Options {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.beforeSync = f
	return &o
}
