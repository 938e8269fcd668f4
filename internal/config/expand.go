package config

import (
	"regexp"
	"strings"

	"github.com/toolgate/toolgate/internal/source"
)

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} and ${VAR:-default} in s, the value of n, with the
// values from r.getenv, and $$ with $. A $ followed by anything else is kept.
// ${VAR:-default} gives default when VAR is unset or empty; ${VAR} with VAR
// unset is an error at the position of its $. Values are never quoted in
// messages: they may be secrets.
func (r *reader) expand(n *source.Node, s string) (string, bool) {
	if !strings.Contains(s, "$") {
		return s, true
	}
	var b strings.Builder
	ok := true
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c != '$' || i+1 == len(s):
			b.WriteByte(c)
			i++
		case s[i+1] == '$':
			b.WriteByte('$')
			i += 2
		case s[i+1] != '{':
			b.WriteByte('$')
			i++
		default:
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				r.d.Errorf(n.PosAt(i), "unterminated ${ (write $$ for a literal $)")
				return "", false
			}
			name, def, hasDef := strings.Cut(s[i+2:i+end], ":-")
			switch v, set := r.getenv(name); {
			case !varName.MatchString(name):
				r.d.Errorf(n.PosAt(i), "invalid variable name %q in ${…}", name)
				ok = false
			case set && (v != "" || !hasDef):
				b.WriteString(v)
			case hasDef:
				b.WriteString(def)
			default:
				r.d.Errorf(n.PosAt(i), "environment variable %s is not set (${%s:-default} gives a default)", name, name)
				ok = false
			}
			i += end + 1
		}
	}
	return b.String(), ok
}
