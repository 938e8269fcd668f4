package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/source"
)

func runPolicy(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(e.stderr, "usage: toolgate policy check [--json] FILE...")
		return exitUsage
	}
	fs := newFlags(e, "policy check")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "usage: toolgate policy check [--json] FILE...")
		return exitUsage
	}
	type problem struct {
		File    string `json:"file"`
		Line    int    `json:"line,omitempty"`
		Col     int    `json:"col,omitempty"`
		Message string `json:"message"`
	}
	var problems []problem
	for _, name := range fs.Args() {
		data, err := os.ReadFile(name)
		if err == nil {
			_, err = policy.Parse(name, data)
		}
		var list source.Errors
		switch {
		case err == nil:
		case errors.As(err, &list):
			for _, p := range list {
				problems = append(problems, problem{File: name, Line: p.Pos.Line, Col: p.Pos.Col, Message: p.Msg})
			}
		default:
			problems = append(problems, problem{File: name, Message: err.Error()})
		}
		if err != nil && !*asJSON {
			fmt.Fprintln(e.stdout, err)
		}
	}
	if *asJSON {
		out := struct {
			OK       bool      `json:"ok"`
			Problems []problem `json:"problems"`
		}{OK: len(problems) == 0, Problems: problems}
		if out.Problems == nil {
			out.Problems = []problem{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	}
	if len(problems) > 0 {
		return exitFailure
	}
	return exitOK
}
