package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// A Comparison sets a run through the gateway beside a run straight to the
// same upstream. The zero value compares two runs that made no call. A
// Comparison is a plain value: its methods only read it, and are safe to
// call concurrently. Durations are encoded in JSON as integer nanoseconds.
type Comparison struct {
	Direct  Result `json:"direct"`
	Through Result `json:"through"`

	// ThroughputRatio is Through.Throughput / Direct.Throughput: the share
	// of the direct throughput left through the gateway. It is zero when the
	// direct run had no successful call.
	ThroughputRatio float64 `json:"throughput_ratio"`

	// AddedP50 and AddedP99 are the latency the gateway adds at the median
	// and at the 99th percentile: Through's minus Direct's. They are negative
	// when the run through the gateway was the faster, and meaningless
	// unless both runs had a successful call.
	AddedP50 time.Duration `json:"added_p50_ns"`
	AddedP99 time.Duration `json:"added_p99_ns"`
}

// Compare compares a run through the gateway with a direct run. A nil
// Result counts as a run that made no call.
func Compare(direct, through *Result) Comparison {
	var c Comparison
	if direct != nil {
		c.Direct = *direct
	}
	if through != nil {
		c.Through = *through
	}
	if c.Direct.Throughput > 0 {
		c.ThroughputRatio = c.Through.Throughput / c.Direct.Throughput
	}
	c.AddedP50 = c.Through.P50 - c.Direct.P50
	c.AddedP99 = c.Through.P99 - c.Direct.P99
	return c
}

// WriteTable writes c for a person at a terminal: an aligned table with a
// row for each run (calls per second, median and 99th-percentile latency in
// milliseconds, errors, calls), then the throughput ratio, the added latency
// and the first error of each run that had one. A run without a successful
// call shows "-" for its latencies. It returns the error writing to w, if
// any.
func (c Comparison) WriteTable(w io.Writer) error {
	rows := [][]string{
		{"", "calls/s", "p50 ms", "p99 ms", "errors", "calls"},
		tableRow("direct", &c.Direct),
		tableRow("through", &c.Through),
	}
	var b bytes.Buffer
	writeColumns(&b, rows)

	ratio := "n/a (no successful direct call)"
	if c.Direct.Throughput > 0 {
		ratio = strconv.FormatFloat(c.ThroughputRatio, 'f', 2, 64)
	}
	fmt.Fprintf(&b, "\nthroughput through/direct: %s\n", ratio)
	if c.Direct.Calls > c.Direct.Errors && c.Through.Calls > c.Through.Errors {
		fmt.Fprintf(&b, "added latency: p50 %s ms, p99 %s ms\n", signedMillis(c.AddedP50), signedMillis(c.AddedP99))
	} else {
		b.WriteString("added latency: n/a (a run without a successful call)\n")
	}
	for _, r := range []struct {
		name string
		res  *Result
	}{{"direct", &c.Direct}, {"through", &c.Through}} {
		if r.res.FirstError != "" {
			fmt.Fprintf(&b, "%s, first error: %s\n", r.name, oneLine(r.res.FirstError))
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes c as one indented JSON document, for scripts. It returns
// the error writing to w, if any.
func (c Comparison) WriteJSON(w io.Writer) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode comparison: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

func tableRow(name string, r *Result) []string {
	p50, p99 := "-", "-"
	if r.Calls > r.Errors {
		p50, p99 = millis(r.P50), millis(r.P99)
	}
	return []string{
		name,
		strconv.FormatFloat(r.Throughput, 'f', 1, 64),
		p50,
		p99,
		strconv.Itoa(r.Errors),
		strconv.Itoa(r.Calls),
	}
}

// millis formats d in milliseconds to the microsecond, one unit for every
// cell so that a column reads at a glance.
func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

func signedMillis(d time.Duration) string {
	if d < 0 {
		return millis(d)
	}
	return "+" + millis(d)
}

// writeColumns writes rows as aligned columns: the first left-aligned, the
// others, numbers, right-aligned.
func writeColumns(b *bytes.Buffer, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len(cell))
			if i == 0 {
				line.WriteString(cell + pad)
			} else {
				line.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
}

// oneLine keeps an error text from breaking the layout.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
