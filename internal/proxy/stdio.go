package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultMaxLine is the longest line accepted from a stdio upstream.
// Longer lines are skipped, not fatal: one oversized message must not cost
// every other call on the connection.
const DefaultMaxLine = 16 << 20

// Command is an [mcp.Transport] that runs an upstream MCP server as a child
// process and speaks newline-delimited JSON-RPC over its stdin and stdout.
//
// It differs from the SDK's CommandTransport in how it treats a misbehaving
// server: a line that is not a JSON-RPC message (many servers print banners
// or debug output on stdout), or one longer than MaxLine, is logged and
// skipped instead of closing the connection. The child's stderr goes to the
// logger. The process runs in its own process group so that Close also ends
// anything it started.
//
// A Command connects once; Connect starts a new process each time it is
// called.
type Command struct {
	Path string
	Args []string
	Env  []string // the complete environment; nil means the gateway's own
	Dir  string
	// MaxLine bounds one message; zero means DefaultMaxLine.
	MaxLine int
	// Logger receives skipped lines and stderr; nil discards them.
	Logger *slog.Logger
	// Early, if set, sees each notification from the server as it is read
	// and reports whether it consumed it.
	Early func(*jsonrpc.Request) bool
	// Grace is how long Close waits after closing stdin before signalling the
	// process group; zero means two seconds.
	Grace time.Duration
}

// Connect starts the process.
func (c *Command) Connect(ctx context.Context) (mcp.Connection, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxLine := c.MaxLine
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	grace := c.Grace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	conn := &cmdConn{
		cmd:      cmd,
		stdin:    stdin,
		logger:   logger,
		grace:    grace,
		early:    c.Early,
		incoming: make(chan jsonrpc.Message),
		closing:  make(chan struct{}),
		exited:   make(chan struct{}),
	}
	conn.wg.Add(2)
	go conn.readStdout(stdout, maxLine)
	go conn.readStderr(stderr)
	go func() {
		// Wait must follow the pipe readers: it closes the pipes.
		conn.wg.Wait()
		conn.waitErr = cmd.Wait()
		close(conn.exited)
	}()
	return conn, nil
}

type cmdConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	logger *slog.Logger
	grace  time.Duration
	early  func(*jsonrpc.Request) bool

	incoming chan jsonrpc.Message
	closing  chan struct{} // closed by Close
	exited   chan struct{} // closed when the process has been reaped
	waitErr  error         // set before exited is closed
	wg       sync.WaitGroup

	writeMu   sync.Mutex // guards stdin writes
	closeOnce sync.Once
}

func (c *cmdConn) readStdout(r io.Reader, maxLine int) {
	defer c.wg.Done()
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if len(line)+len(chunk) > maxLine {
				c.logger.Warn("upstream sent an oversized line; skipped", "limit", maxLine)
				if !c.discardLine(br) {
					return
				}
				line = line[:0]
				continue
			}
			line = append(line, chunk...)
			continue
		case err != nil:
			// EOF or a closed pipe: the process is gone or going.
			return
		}
		if len(line) > 0 {
			line = append(line, chunk...)
			chunk = line
		}
		if len(chunk) > maxLine {
			c.logger.Warn("upstream sent an oversized line; skipped", "limit", maxLine)
		} else if msg := c.decode(chunk); msg != nil {
			select {
			case c.incoming <- msg:
			case <-c.closing:
				return
			}
		}
		line = line[:0]
	}
}

// discardLine skips the rest of an oversized line, reporting whether the
// stream is still readable.
func (c *cmdConn) discardLine(br *bufio.Reader) bool {
	for {
		_, err := br.ReadSlice('\n')
		if err == nil {
			return true
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return false
		}
	}
}

func (c *cmdConn) decode(line []byte) jsonrpc.Message {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	msg, err := jsonrpc.DecodeMessage(line)
	if err != nil {
		c.logger.Warn("upstream sent a line that is not a JSON-RPC message; skipped",
			"line", truncate(string(line), 200), "error", err)
		return nil
	}
	if req, ok := msg.(*jsonrpc.Request); ok && !req.IsCall() && c.early != nil && c.early(req) {
		return nil
	}
	return msg
}

func (c *cmdConn) readStderr(r io.Reader) {
	defer c.wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		c.logger.Info("upstream stderr", "line", truncate(sc.Text(), 1000))
	}
	// A line too long for the scanner ends the scan; keep draining so the
	// child never blocks on a full stderr pipe.
	_, _ = io.Copy(io.Discard, r)
}

func (c *cmdConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case msg := <-c.incoming:
		return msg, nil
	case <-c.exited:
		// Deliver what was read before the exit.
		select {
		case msg := <-c.incoming:
			return msg, nil
		default:
		}
		if c.waitErr != nil {
			return nil, fmt.Errorf("upstream process exited: %w", c.waitErr)
		}
		return nil, io.EOF
	case <-c.closing:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *cmdConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	select {
	case <-c.closing:
		return io.ErrClosedPipe
	default:
	}
	_, err = c.stdin.Write(data)
	return err
}

// Close closes stdin, then signals the process group if the server does not
// exit within the grace period, and reaps it.
func (c *cmdConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.writeMu.Lock()
		_ = c.stdin.Close()
		c.writeMu.Unlock()
		pgid := -c.cmd.Process.Pid
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			select {
			case <-c.exited:
				return
			case <-time.After(c.grace):
				_ = syscall.Kill(pgid, sig)
			}
		}
		<-c.exited
	})
	return nil
}

func (c *cmdConn) SessionID() string { return "" }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
