package oktasim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// args are a call's arguments by exact name. Decoding into a map rather than
// a struct keeps names case-sensitive, as the schemas are: encoding/json
// would let "UserID" stand for "userId".
type args map[string]json.RawMessage

func decodeArgs(raw json.RawMessage) (args, error) {
	a := args{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return a, nil
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, errors.New("arguments must be a JSON object")
	}
	if a == nil { // the arguments were null
		a = args{}
	}
	return a, nil
}

// value decodes the named argument into v and reports whether it was given;
// null counts as not given.
func (a args) value(name string, v any, want string) (bool, error) {
	raw, ok := a[name]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%s must be %s", name, want)
	}
	return true, nil
}

// str returns an optional string argument, "" when absent.
func (a args) str(name string) (string, error) {
	var s string
	_, err := a.value(name, &s, "a string")
	return s, err
}

// required returns a string argument that must be present and not blank.
func (a args) required(name string) (string, error) {
	s, err := a.str(name)
	if err == nil && strings.TrimSpace(s) == "" {
		err = fmt.Errorf("%s is required", name)
	}
	return s, err
}

func (a args) boolean(name string, def bool) (bool, error) {
	b := def
	_, err := a.value(name, &b, "true or false")
	return b, err
}

// limit returns the limit argument: default 50, at most 200, like the real
// server's schema validation.
func (a args) limit() (int, error) {
	var f float64
	ok, err := a.value("limit", &f, "a number")
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 50, nil
	case f != math.Trunc(f) || f < 1 || f > 200:
		return 0, fmt.Errorf("limit must be a whole number from 1 to 200, not %v", f)
	}
	return int(f), nil
}

// list returns a string-array argument with blanks rejected and duplicates
// dropped, in order; nonEmpty requires at least one element.
func (a args) list(name string, nonEmpty bool) ([]string, error) {
	var xs []string
	if _, err := a.value(name, &xs, "an array of strings"); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if strings.TrimSpace(x) == "" {
			return nil, fmt.Errorf("%s must not contain empty IDs", name)
		}
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	if nonEmpty && len(out) == 0 {
		return nil, fmt.Errorf("%s must list at least one ID", name)
	}
	return out, nil
}

// mapping returns an attribute mapping such as
// {"department": {"Engineering": "00g..."}}.
func (a args) mapping(name string) (map[string]map[string]string, error) {
	var m map[string]map[string]string
	if _, err := a.value(name, &m, `an object mapping attribute names to {"value": "groupId"} objects`); err != nil {
		return nil, err
	}
	return m, nil
}
