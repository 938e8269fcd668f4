package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// RecommendOptions configures Recommend. The zero value, like a nil
// *RecommendOptions, gives DESIGN.md §7's recommendation.
type RecommendOptions struct {
	// WritePerMinute is how many calls of each Write tool a grant may make
	// in a minute; zero means 30.
	WritePerMinute int
	// ExecutePerMinute is the same for each Execute tool; zero means 10.
	ExecutePerMinute int
}

// Reasons of the rules that hold calls for approval. They name no tool: the
// gateway adds it.
const (
	ReasonDestructive = "destructive: a person approves each call"
	ReasonFinancial   = "moves money: a person approves each call"
)

// Recommend returns the policy document DESIGN.md §7 recommends for tools:
// deny by default; Read tools allowed; Write tools allowed 30 calls a
// minute per grant and Execute tools 10, each tool on its own counter
// NAME_rate; Destructive and Financial tools held for a person's approval.
// A Destructive tool is not hidden, which would make it unusable: it stays
// listed, and each call waits for a person (DESIGN.md §5).
//
// The document is indented JSON with the tools sorted by name, ending in a
// newline, so that the same tools always give the same bytes. Recommend
// fails when a name is empty, repeated, or not usable as a policy key (it
// contains a glob character *?[\ or a control character), or a category
// is not one of the five.
func Recommend(tools []Classified, opts *RecommendOptions) ([]byte, error) {
	var o RecommendOptions
	if opts != nil {
		o = *opts
	}
	if o.WritePerMinute <= 0 {
		o.WritePerMinute = 30
	}
	if o.ExecutePerMinute <= 0 {
		o.ExecutePerMinute = 10
	}
	doc := document{Version: "1", Default: "deny", Tools: make(map[string]rule, len(tools))}
	var errs []error
	for _, t := range tools {
		if err := policyName(t.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := doc.Tools[t.Name]; dup {
			errs = append(errs, fmt.Errorf("tool %q is listed twice", t.Name))
			continue
		}
		var r rule
		switch t.Class.Category {
		case Read:
		case Write:
			r.Limits = []limit{{Counter: t.Name + "_rate", Window: "minute", Max: o.WritePerMinute, Scope: "grant"}}
		case Execute:
			r.Limits = []limit{{Counter: t.Name + "_rate", Window: "minute", Max: o.ExecutePerMinute, Scope: "grant"}}
		case Destructive:
			r.Action, r.Reason = "approve", ReasonDestructive
		case Financial:
			r.Action, r.Reason = "approve", ReasonFinancial
		default:
			errs = append(errs, fmt.Errorf("tool %q: invalid category %d", t.Name, t.Class.Category))
			continue
		}
		doc.Tools[t.Name] = r
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("recommend policy: %w", errors.Join(errs...))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("recommend policy: %w", err)
	}
	return b.Bytes(), nil
}

// policyName checks that a tool name can be a key of a policy's tools: a
// glob character would make it a pattern.
func policyName(name string) error {
	switch {
	case name == "":
		return errors.New("a tool has no name")
	case strings.ContainsAny(name, `*?[\`):
		return fmt.Errorf("tool %q: a policy cannot name it (it contains a glob character)", name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("tool %q: a policy cannot name it (it contains a control character)", name)
	}
	return nil
}

// document is a policy document (DESIGN.md §1), the parts Recommend
// writes.
type document struct {
	Version string          `json:"version"`
	Default string          `json:"default"`
	Tools   map[string]rule `json:"tools"`
}

type rule struct {
	Action string  `json:"action,omitempty"`
	Reason string  `json:"reason,omitempty"`
	Limits []limit `json:"limits,omitempty"`
}

type limit struct {
	Counter string `json:"counter"`
	Window  string `json:"window"`
	Max     int    `json:"max"`
	Scope   string `json:"scope"`
}
