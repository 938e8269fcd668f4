package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/toolgate/toolgate/internal/source"
)

// Bounds on the work of one evaluation, so that neither a hostile policy nor
// large arguments can hang the gateway. An expression that CEL can bound
// statically below costLimit runs without them; the others run with both:
// CEL's cost limit bounds the work on large values (string searches, list
// membership), and the iteration limit bounds loops, whose cost tracking
// takes time quadratic in the number of iterations in cel-go v0.31. Either
// way a condition stops within a few milliseconds, and fails closed.
const (
	costLimit     = 100_000 // CEL cost units: about one per operation, or per 10 bytes of a string scanned
	maxIterations = 2_000   // iterations of all comprehensions (all, exists, map, filter) together
	maxExprSize   = 4096    // code points in an expression
)

// stopped is an already cancelled context. A program evaluated under it
// that checks for interruption after maxIterations+1 iterations stops at the
// first check: an iteration limit that needs no clock.
var stopped = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// errTooManyIterations replaces CEL's interruption error, which would cite
// the context.
var errTooManyIterations = fmt.Errorf("more than %d loop iterations", maxIterations)

// env is the CEL environment every expression is compiled in. Building one
// costs about a millisecond, and an Env is safe for concurrent use.
var env = sync.OnceValues(func() (*cel.Env, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	dynMap := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.CustomTypeAdapter(jsonAdapter{reg}),
		cel.Variable("args", dynMap),
		cel.Variable("tool", cel.StringType),
		cel.Variable("server", cel.StringType),
		cel.Variable("grant", dynMap),
		cel.Variable("session", dynMap),
		cel.Variable("user", cel.StringType),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExprSize),
	)
})

// jsonAdapter presents JSON-decoded values to CEL. JSON has one number type,
// decoded as float64 (or json.Number); whole numbers become CEL ints, so
// that args.amount > 10000 and size(args.ids) * args.copies work as an
// author expects. Maps and lists are wrapped lazily: only the values an
// expression touches are converted.
type jsonAdapter struct{ types.Adapter }

// maxExactInt bounds the floats taken as integers: up to 2^53 every whole
// float64 is exactly the integer the JSON text had.
const maxExactInt = 1 << 53

func (a jsonAdapter) NativeToValue(v any) ref.Val {
	switch v := v.(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) <= maxExactInt {
			return types.Int(int64(v))
		}
		return types.Double(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return types.Int(i)
		}
		if f, err := v.Float64(); err == nil {
			return a.NativeToValue(f)
		}
	case map[string]any:
		return types.NewStringInterfaceMap(a, v)
	case []any:
		return types.NewDynamicList(a, v)
	}
	return a.Adapter.NativeToValue(v)
}

// activation resolves the variables of an expression from an Input without
// copying it into a map.
type activation struct{ in *Input }

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case "args":
		return a.in.Args, true
	case "tool":
		return a.in.Tool, true
	case "server":
		return a.in.Server, true
	case "grant":
		return a.in.Grant, true
	case "session":
		return a.in.Session, true
	case "user":
		return a.in.User, true
	}
	return nil, false
}

func (activation) Parent() interpreter.Activation { return nil }

// expr is a compiled CEL expression. It is safe for concurrent use.
type expr struct {
	ptr  string // JSON pointer of the expression in the document
	text string // the expression quoted for reasons
	// reason is the decision's reason when the expression stops a call.
	reason string
	prg    cel.Program
	// limited programs run under stopped, for the iteration limit.
	limited bool
	// approval is how to hold a call that an approve_if condition stops.
	approval *Approval
}

// errNotBool and errNotInt report results of the wrong type from expressions
// that type-check as dyn.
var (
	errNotBool = errors.New("result is not a boolean")
	errNotInt  = errors.New("result is not an integer")
)

// eval evaluates e over in.
func (e *expr) eval(in *Input) (ref.Val, error) {
	if !e.limited {
		out, _, err := e.prg.Eval(activation{in})
		return out, err
	}
	out, _, err := e.prg.ContextEval(stopped, activation{in})
	if err != nil && errors.Is(err, context.Canceled) {
		err = errTooManyIterations
	}
	return out, err
}

// cond evaluates a condition.
func (e *expr) cond(in *Input) (bool, error) {
	out, err := e.eval(in)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, errNotBool
	}
	return bool(b), nil
}

// int evaluates a cost.
func (e *expr) int(in *Input) (int64, error) {
	out, err := e.eval(in)
	if err != nil {
		return 0, err
	}
	switch v := out.(type) {
	case types.Int:
		return int64(v), nil
	case types.Uint:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
	case types.Double:
		if float64(v) == math.Trunc(float64(v)) && math.Abs(float64(v)) <= maxExactInt {
			return int64(v), nil
		}
	}
	return 0, errNotInt
}

// unknownSizes is a cost estimator that knows nothing: every input may be
// arbitrarily large, so an estimate is an upper bound whatever the call.
type unknownSizes struct{}

func (unknownSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (unknownSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// compile compiles the expression in node n, which must type-check to want
// (or to dyn, checked when evaluated). Problems are recorded in d at the
// position inside the expression that CEL reports.
func compile(d *source.Decoder, n *source.Node, want *cel.Type) *expr {
	text, ok := d.String(n)
	if !ok {
		return nil
	}
	if strings.TrimSpace(text) == "" {
		d.Errorf(n.Pos, "%s: empty expression", source.Name(n))
		return nil
	}
	e, err := env()
	if err != nil {
		d.Errorf(n.Pos, "%s: CEL environment: %v", source.Name(n), err)
		return nil
	}
	ast, iss := e.Compile(text)
	if iss.Err() != nil {
		for _, ce := range iss.Errors() {
			pos := n.Pos
			if ce.Location.Line() >= 1 {
				pos = n.PosAt(byteOffset(text, ce.Location.Line(), ce.Location.Column()))
			}
			d.Errorf(pos, "%s: %s", source.Name(n), oneLine(ce.Message))
		}
		return nil
	}
	if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		d.Errorf(n.Pos, "%s must evaluate to %s, not %s", source.Name(n), want, out)
		return nil
	}
	var opts []cel.ProgramOption
	// Tracking cost makes an evaluation several times slower, so only
	// expressions whose cost CEL cannot bound (loops over inputs, string
	// functions) pay for it.
	est, err := e.EstimateCost(ast, unknownSizes{})
	limited := err != nil || est.Max > costLimit
	if limited {
		opts = append(opts, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(maxIterations+1))
	}
	prg, err := e.Program(ast, opts...)
	if err != nil {
		d.Errorf(n.Pos, "%s: %v", source.Name(n), err)
		return nil
	}
	return &expr{ptr: n.Pointer, text: quote(text), prg: prg, limited: limited}
}

// byteOffset converts CEL's location (1-based line, 0-based column in code
// points) into a byte offset in text.
func byteOffset(text string, line, col int) int {
	off := 0
	for ; line > 1; line-- {
		i := strings.IndexByte(text[off:], '\n')
		if i < 0 {
			return len(text)
		}
		off += i + 1
	}
	for ; col > 0 && off < len(text) && text[off] != '\n'; col-- {
		_, size := utf8.DecodeRuneInString(text[off:])
		off += size
	}
	return off
}

// oneLine collapses white space so that s fits on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// maxQuote bounds how much of an expression a reason quotes.
const maxQuote = 160

// quote puts an expression on one line for a reason, shortened to maxQuote
// code points.
func quote(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= maxQuote {
		return s
	}
	return string([]rune(s)[:maxQuote-1]) + "…"
}

// evalError describes a condition that could not be evaluated, for a reason.
func evalError(e *expr, err error) string {
	return fmt.Sprintf("condition could not be evaluated (%s): %s", e.text, oneLine(err.Error()))
}
