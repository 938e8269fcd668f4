// Package proctest runs another process for a test: the test binary
// itself, running only its TestHelperProcess, which learns from an
// environment variable that it is the other process. Tests use it to check
// a store that two processes have open at once, as a gateway and the CLI
// next to it do.
//
// The other process reads commands from its stdin, one per line, and
// answers each with lines on its stdout; an answer that begins with
// "error" is a failure.
package proctest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Process is another process running the test binary. Its methods are not
// safe for concurrent use; different Processes may be used concurrently.
type Process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	rest  io.Reader // stdout after out's buffer
	out   *bufio.Scanner
}

// Start starts the test binary running only TestHelperProcess, with the
// environment variable env set to value, and its stderr this process's. It
// fails the test if the process cannot be started.
func Start(t testing.TB, env, value string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &Process{cmd: cmd, stdin: stdin, rest: stdout, out: bufio.NewScanner(stdout)}
}

// Send writes line to the process's stdin.
func (p *Process) Send(line string) { fmt.Fprintln(p.stdin, line) }

// Reply reads the process's next line, its answer to the command line. It
// fails when the process ended first, or the answer begins with "error".
func (p *Process) Reply(line string) (string, error) {
	if !p.out.Scan() {
		return "", fmt.Errorf("%s: the other process ended: %v", line, p.out.Err())
	}
	if r := p.out.Text(); !strings.HasPrefix(r, "error") {
		return r, nil
	}
	return "", fmt.Errorf("%s: %s", line, p.out.Text())
}

// Ask sends the command line and returns the process's answer, as Reply
// does.
func (p *Process) Ask(line string) (string, error) {
	p.Send(line)
	return p.Reply(line)
}

// Stop closes the process's stdin, which tells it to end, reads what is
// left of its output and waits for it to exit. It returns the error of
// the process's exit.
func (p *Process) Stop() error {
	p.stdin.Close()
	io.Copy(io.Discard, p.rest)
	return p.cmd.Wait()
}
