package catalog

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode"
)

// Row is one line of "toolgate scan": a tool, its class, and what the
// current policy does with it. Its JSON form is {"tool": …, "category": …,
// "severity": …, "signals": […], "policy": …}.
type Row struct {
	Tool string `json:"tool"`
	Class
	// Policy is what the policy in force does with the tool, as the caller
	// words it: "allow", "deny", "hide", "approve", "allow, 30/minute per
	// grant", …
	Policy string `json:"policy"`
}

// sorted returns a copy of rows, the riskiest first: by severity, then
// category, descending, then by tool name.
func sorted(rows []Row) []Row {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Row) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(b.Category, a.Category),
			strings.Compare(a.Tool, b.Tool))
	})
	return rows
}

// WriteTable writes rows to w as an aligned table with the columns TOOL,
// CATEGORY, SEVERITY, POLICY and SIGNALS, the riskiest tools first (by
// severity, then category, then name), signals separated by "; ", and "-"
// for an empty policy or no signals. Control
// and other unprintable characters, which an upstream could put in a
// tool's name, are written escaped (\u0009), so that every row is one
// line. It returns w's error.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tCATEGORY\tSEVERITY\tPOLICY\tSIGNALS")
	for _, r := range sorted(rows) {
		sigs := make([]string, len(r.Signals))
		for i, s := range r.Signals {
			sigs[i] = s.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(r.Tool), r.Category, r.Severity,
			printable(orDash(r.Policy)), printable(orDash(strings.Join(sigs, "; "))))
	}
	return tw.Flush()
}

// WriteJSON writes rows to w as one indented JSON array, in WriteTable's
// order, for programs ("toolgate scan --json"). Signals are [] when there
// are none. It fails for a Category or Severity out of range, and returns
// w's error.
func WriteJSON(w io.Writer, rows []Row) error {
	rows = sorted(rows)
	for i := range rows {
		if rows[i].Signals == nil {
			rows[i].Signals = []Signal{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable escapes the characters of s that are not printable or would
// break a table: tabs, newlines, other controls and invisible formatting.
func printable(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unprintable(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unprintable(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }
