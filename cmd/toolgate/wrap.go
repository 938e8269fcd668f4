package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/toolgate/toolgate/internal/gateway"
)

func runWrap(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "wrap")
	policyPath := fs.String("policy", "", "the policy `file` (none: everything passes)")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	command := fs.Args()
	if len(command) == 0 {
		fmt.Fprintln(e.stderr, "usage: toolgate wrap [--policy FILE] -- CMD [ARGS...]")
		return exitUsage
	}
	// stdout carries the protocol: everything else goes to stderr.
	logger, err := newLogger(e.stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(e.stderr, "toolgate wrap: %v\n", err)
		return exitUsage
	}
	in, out := readCloser(e.stdin), writeCloser(e.stdout)
	if err := gateway.Wrap(ctx, *policyPath, command, in, out, &gateway.Options{Logger: logger}); err != nil && ctx.Err() == nil {
		fmt.Fprintf(e.stderr, "toolgate wrap: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func readCloser(r io.Reader) io.ReadCloser {
	if rc, ok := r.(io.ReadCloser); ok {
		return rc
	}
	return io.NopCloser(r)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func writeCloser(w io.Writer) io.WriteCloser {
	if w == os.Stdout {
		return os.Stdout
	}
	if wc, ok := w.(io.WriteCloser); ok {
		return wc
	}
	return nopWriteCloser{w}
}
