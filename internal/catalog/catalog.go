// Package catalog knows the tools of upstream MCP servers: what each one
// risks (DESIGN.md §7), the policy to start from, and whether a tool's
// definition changed since it was first seen.
//
//   - Classify gives a tool a risk class: a Category (Read, Write, Execute,
//     Destructive, Financial), a Severity (Low to Critical) and the Signals
//     behind them, from the tool's MCP annotations, the verbs in its name,
//     its description and its input schema.
//   - Recommend writes the policy document DESIGN.md §7 recommends for a set
//     of classified tools; WriteTable and WriteJSON print them for
//     "toolgate scan".
//   - Digest and Definition fingerprint a tool's definition, and a PinStore
//     records the fingerprints, so that a tool whose description or schema
//     changes after it was first seen (a "rug pull") can be flagged and
//     withheld until a person accepts the change. The stores live in the
//     subpackages sqlitepin and pgpin; pintest is the contract they pass.
//   - ParseClientConfig reads the MCP server entries of the configuration
//     files of MCP clients (Claude Desktop, Cursor, VS Code), and
//     ClientSnippet writes the client configuration that sends a client
//     through the gateway instead.
//
// The package does no I/O of its own except through the PinStore it
// declares, and everything in it is safe for concurrent use.
package catalog

import (
	"fmt"
	"strings"
)

// Category is what calling a tool does. Categories are ordered by risk, so
// that a larger one is riskier; the zero Category is Read.
type Category uint8

// The categories.
const (
	// Read only reads: it changes nothing.
	Read Category = iota
	// Write creates or changes things, and can be undone.
	Write
	// Execute runs something (a workflow, a job, code) whose effects are
	// not described by the tool itself.
	Execute
	// Destructive deletes, disables or revokes things, or overwrites them:
	// its effects are hard or impossible to undo.
	Destructive
	// Financial moves or commits money.
	Financial
)

var categoryNames = [...]string{"Read", "Write", "Execute", "Destructive", "Financial"}

// Categories lists every category, in order of risk.
var Categories = []Category{Read, Write, Execute, Destructive, Financial}

// String returns "Read", "Write", "Execute", "Destructive" or "Financial".
func (c Category) String() string {
	if int(c) < len(categoryNames) {
		return categoryNames[c]
	}
	return fmt.Sprintf("Category(%d)", uint8(c))
}

// MarshalText encodes c as its String. It fails for a value that is not
// one of the categories.
func (c Category) MarshalText() ([]byte, error) {
	if int(c) >= len(categoryNames) {
		return nil, fmt.Errorf("invalid category %d", uint8(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText decodes a category from its String, in any case.
func (c *Category) UnmarshalText(b []byte) error {
	for i, name := range categoryNames {
		if strings.EqualFold(string(b), name) {
			*c = Category(i)
			return nil
		}
	}
	return fmt.Errorf("unknown category %q (want Read, Write, Execute, Destructive or Financial)", b)
}

// Severity is how much harm one call of a tool can do. Severities are
// ordered; the zero Severity is Low.
type Severity uint8

// The severities.
const (
	Low Severity = iota
	Medium
	High
	Critical
)

var severityNames = [...]string{"Low", "Medium", "High", "Critical"}

// String returns "Low", "Medium", "High" or "Critical".
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("Severity(%d)", uint8(s))
}

// MarshalText encodes s as its String. It fails for a value that is not
// one of the severities.
func (s Severity) MarshalText() ([]byte, error) {
	if int(s) >= len(severityNames) {
		return nil, fmt.Errorf("invalid severity %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a severity from its String, in any case.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, name := range severityNames {
		if strings.EqualFold(string(b), name) {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q (want Low, Medium, High or Critical)", b)
}

// Signal kinds: where in a tool's definition a signal was found.
const (
	SignalAnnotation  = "annotation"
	SignalName        = "name"
	SignalDescription = "description"
	SignalInput       = "input"
)

// Signal is one reason behind a tool's class.
type Signal struct {
	// Kind is SignalAnnotation, SignalName, SignalDescription or
	// SignalInput.
	Kind string `json:"kind"`
	// Detail says what was found and what it did, in a few words, e.g.
	// `verb "delete": Destructive` or `userIds: array of IDs (bulk)`.
	Detail string `json:"detail"`
}

// String returns "kind: detail".
func (s Signal) String() string { return s.Kind + ": " + s.Detail }

// Class is a tool's risk class. Its JSON form is
// {"category": "Write", "severity": "Medium", "signals": [{"kind": …,
// "detail": …}, …]}.
type Class struct {
	Category Category `json:"category"`
	Severity Severity `json:"severity"`
	// Signals are the reasons for the category and the severity, in the
	// order annotation, name, description, input. Only signals that set
	// the class are listed, and annotations the class ignored because the
	// server is not trusted.
	Signals []Signal `json:"signals"`
}

// String returns "Category/Severity", e.g. "Write/Medium".
func (c Class) String() string { return c.Category.String() + "/" + c.Severity.String() }

// Classified is a tool's name and its class.
type Classified struct {
	Name  string `json:"name"`
	Class Class  `json:"class"`
}

// Options configures Classify. A nil *Options is the zero Options.
type Options struct {
	// Trusted says the server's tool annotations are believed: they may
	// then lower a tool's risk (readOnlyHint, destructiveHint: false) as
	// well as raise it. The MCP specification asks clients to treat
	// annotations from servers they do not trust as untrusted, so by
	// default annotations only raise risk.
	Trusted bool
}
