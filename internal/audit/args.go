package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SetArgs sets r's argument fields from a call's arguments: ArgKeys to
// Keys(args), ArgDigest to the Digest of Redact(args) and, when values is
// true, Args to the Canonical form of Redact(args) (nil otherwise). args is
// only read.
//
// The digest is of the redacted arguments so that it cannot be used to test
// guesses of a secret among them (a password, say) offline. Two calls that
// differ only in their secrets have the same digest.
func (r *Record) SetArgs(args map[string]any, values bool) {
	r.ArgKeys = Keys(args)
	red, _ := redactMap(args, 0, false)
	c := Canonical(red)
	h := sha256.Sum256(c)
	r.ArgDigest = hex.EncodeToString(h[:])
	r.Args = nil
	if values {
		r.Args = c
	}
}

// Keys returns the top-level keys of args, sorted, or nil when there are
// none.
func Keys(args map[string]any) []string {
	if len(args) == 0 {
		return nil
	}
	return sortedKeys(args)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Digest returns the lowercase hex SHA-256 of Canonical(args), which does
// not depend on the order of keys; nil and empty args have the digest of
// "{}".
func Digest(args map[string]any) string {
	h := sha256.Sum256(Canonical(args))
	return hex.EncodeToString(h[:])
}

// Canonical returns args encoded as JSON in one way only, so that equal
// arguments have equal encodings (nil is "{}"). It follows RFC 8785 (JSON
// Canonicalization Scheme) but for two choices:
//
//   - Numbers are written as they came. A float64 (what encoding/json
//     decodes a number into an any as) is written in its shortest form that
//     reads back the same (1 for 1.0, 1e+21 for 1e21), as encoding/json
//     writes it; a json.Number as its text, so "1.0" and "1" differ, since
//     an upstream may see them differently; an integer type in decimal. A
//     NaN or infinity, which no JSON decodes to, is written as the string
//     "NaN", "+Inf" or "-Inf".
//   - Object keys are sorted by their UTF-8 bytes, not UTF-16 code units;
//     the orders differ only for keys with characters above U+FFFF.
//
// Strings are escaped minimally (quote, backslash, control characters),
// with each invalid UTF-8 byte replaced by U+FFFD. Values of other types
// (structs, typed maps and slices) are written as encoding/json encodes
// them, then canonicalized. Nesting deeper than 1000 levels is cut off and
// replaced with the string "[too deep]".
func Canonical(args map[string]any) json.RawMessage {
	if args == nil {
		return json.RawMessage("{}")
	}
	return appendCanonical(make([]byte, 0, 128), args, 0)
}

const maxDepth = 1000

func appendCanonical(b []byte, v any, depth int) []byte {
	if depth > maxDepth {
		return appendString(b, "[too deep]")
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case string:
		return appendString(b, v)
	case float64:
		return appendFloat(b, v, 64)
	case float32:
		return appendFloat(b, float64(v), 32)
	case json.Number:
		if validNumber(string(v)) {
			return append(b, v...)
		}
		return appendString(b, string(v))
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int8:
		return strconv.AppendInt(b, int64(v), 10)
	case int16:
		return strconv.AppendInt(b, int64(v), 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case map[string]any:
		keys := sortedKeys(v)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendCanonical(b, v[k], depth+1)
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, e, depth+1)
		}
		return append(b, ']')
	}
	g, err := generic(v)
	if err != nil {
		return appendString(b, "["+err.Error()+"]")
	}
	return appendCanonical(b, g, depth)
}

// generic returns v as JSON decodes it into an any, numbers as
// json.Number.
func generic(v any) (any, error) {
	var raw []byte
	if m, ok := v.(json.RawMessage); ok {
		raw = m
	} else {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var g any
	if err := d.Decode(&g); err != nil {
		return nil, err
	}
	return g, nil
}

// validNumber reports whether s is a JSON number.
func validNumber(s string) bool {
	var n json.Number
	return s != "" && json.Unmarshal([]byte(s), &n) == nil && string(n) == s
}

// appendFloat writes f as encoding/json does (which is as ECMAScript
// does), with -0 as 0.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return appendString(b, "NaN")
	case math.IsInf(f, 1):
		return appendString(b, "+Inf")
	case math.IsInf(f, -1):
		return appendString(b, "-Inf")
	case f == 0:
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
		bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// Redacted replaces the values Redact hides.
const Redacted = "[REDACTED]"

// Redact returns a deep copy of args with secrets replaced by Redacted:
//
//   - The whole value, whatever its type, of every key (at any depth) that
//     looks like it names a secret. A key does when, lowercased, it contains
//     one of "password", "passwd", "passphrase", "token", "secret",
//     "authorization", "cookie", "credential", "apikey", "privatekey" or
//     "accesskey"; or when one of its words is "key", "keys", "pwd", "auth",
//     "bearer" or "jwt". Words are split at anything but letters and
//     digits, at lower-to-upper case changes and between letters and
//     digits, so "apiKey", "api_key", "X-API-Key" and "key" match, and
//     "monkey", "keyboard" and "author" do not. Names like "sort_key" or
//     "max_tokens" match too: a name cannot tell a lookup key or a count
//     from a secret, and hiding a value costs less than leaking one.
//   - In every string (at any depth, keys aside), each credential of a
//     well-known form: Bearer, Basic, token and SSWS (Okta) authorization
//     values; JWTs; AWS access key IDs; GitHub, GitLab, Slack, Stripe,
//     Google, OpenAI, Anthropic, npm and toolgate tokens; PEM private key
//     blocks; the password of a URL (scheme://user:password@host); Slack
//     webhook paths; and values after "password=", "token: " and the like.
//     Only the credential is replaced, so the rest of the string stays
//     readable.
//
// Values of other types than JSON decodes to (structs, typed maps and
// slices) are converted as encoding/json encodes them. args is only read;
// nil gives nil.
func Redact(args map[string]any) map[string]any {
	if args == nil {
		return nil
	}
	red, _ := redactMap(args, 0, true)
	return red
}

// redactMap returns m redacted, and whether that differs from m. With
// copyAll the result is always new, down to every nested map and slice;
// otherwise it is m itself when nothing in m changes.
func redactMap(m map[string]any, depth int, copyAll bool) (map[string]any, bool) {
	var out map[string]any
	if copyAll {
		out = make(map[string]any, len(m))
	}
	for k, v := range m {
		nv, changed := any(Redacted), true
		if !secretKey(k) {
			nv, changed = redactValue(v, depth+1, copyAll)
		}
		if changed && out == nil {
			out = maps.Clone(m)
		}
		if out != nil {
			out[k] = nv
		}
	}
	if out == nil {
		return m, false
	}
	return out, true
}

// redactValue returns v redacted, and whether that differs from v (always,
// for maps and slices with copyAll, since they are new).
func redactValue(v any, depth int, copyAll bool) (any, bool) {
	if depth > maxDepth {
		return "[too deep]", true
	}
	switch v := v.(type) {
	case nil, bool, float64, float32, json.Number, int, int8, int16, int32, int64,
		uint, uint8, uint16, uint32, uint64:
		return v, false
	case string:
		s := redactString(v)
		return s, s != v
	case map[string]any:
		return redactMap(v, depth, copyAll)
	case []any:
		var out []any
		if copyAll {
			out = make([]any, len(v))
		}
		for i, e := range v {
			ne, changed := redactValue(e, depth+1, copyAll)
			if changed && out == nil {
				out = slices.Clone(v)
			}
			if out != nil {
				out[i] = ne
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	}
	g, err := generic(v)
	if err != nil {
		return "[" + err.Error() + "]", true
	}
	out, _ := redactValue(g, depth, copyAll)
	return out, true
}

// secretSubstrings and secretWords make a key secret-looking; see Redact.
var (
	secretSubstrings = []string{"password", "passwd", "passphrase", "token", "secret",
		"authorization", "cookie", "credential", "apikey", "privatekey", "accesskey"}
	secretWords = []string{"key", "keys", "pwd", "auth", "bearer", "jwt"}
)

// secretKey reports whether the key k looks like it names a secret.
func secretKey(k string) bool {
	l := strings.ToLower(k)
	for _, sub := range secretSubstrings {
		if strings.Contains(l, sub) {
			return true
		}
	}
	for w := range words(k) {
		for _, sw := range secretWords {
			if strings.EqualFold(w, sw) {
				return true
			}
		}
	}
	return false
}

// words yields the words of an identifier: split at anything but letters
// and digits, before an upper-case letter that follows a lower-case one or
// starts a word after an acronym ("APIKey" is "API", "Key"), and between
// letters and digits.
func words(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		start := -1 // of the current word
		var prev rune
		for i, r := range s {
			alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
			if !alnum {
				if start >= 0 && !yield(s[start:i]) {
					return
				}
				start, prev = -1, r
				continue
			}
			if start >= 0 {
				boundary := unicode.IsLower(prev) && unicode.IsUpper(r) ||
					unicode.IsDigit(prev) != unicode.IsDigit(r)
				if !boundary && unicode.IsUpper(prev) && unicode.IsUpper(r) {
					// The last upper-case letter of an acronym starts the
					// next word if a lower-case one follows.
					if next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):]); unicode.IsLower(next) {
						boundary = true
					}
				}
				if boundary {
					if !yield(s[start:i]) {
						return
					}
					start = i
				}
			} else {
				start = i
			}
			prev = r
		}
		if start >= 0 {
			yield(s[start:])
		}
	}
}

// credential is a well-known form of secret in a string: match finds it,
// group (0 for the whole match) is the part to hide, and ok, when set,
// rejects look-alikes. A string can hold it only if it has a run of at
// least minRun letters, digits, '_' and '-', one of the bytes of anyOf
// (when set), and, ignoring case, one of hints: redactString checks that
// first, cheapest first, so that most strings cost a scan and a few
// substring searches rather than a regular expression per credential.
type credential struct {
	match  *regexp.Regexp
	group  int
	ok     func(string) bool
	minRun int
	anyOf  string
	hints  []string // lower case
}

// credentials are tried in order on every string; each replaces what it
// finds before the next runs.
var credentials = []credential{
	{ // PEM private key
		match: regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\z)`),
		anyOf: "-", hints: []string{"-----begin "}},
	{ // a URL's password
		match: regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:([^/\s@]+)@`), group: 1,
		anyOf: "@", hints: []string{"://"}},
	{ // an Authorization header's credentials; SSWS is Okta's scheme
		match: regexp.MustCompile(`(?i)\b(?:bearer|basic|token|ssws)\s+([A-Za-z0-9\-._~+/]+=*)`), group: 1, ok: notWord,
		anyOf: " \t\r\n", hints: []string{"bearer", "basic", "token", "ssws"}},
	{ // JWT
		match:  regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*`),
		minRun: len("eyJ") + 8, hints: []string{"eyj"}},
	{ // AWS access key ID
		match:  regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b`),
		minRun: 20, hints: []string{"akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "apka", "aroa", "asca"}},
	{ // GitHub token
		match:  regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b`),
		minRun: len("github_pat_") + 22, hints: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}},
	{ // GitLab token
		match:  regexp.MustCompile(`\bgl(?:pat|dt|ptt|rt)-[A-Za-z0-9_\-]{20,}`),
		minRun: len("gldt-") + 20, hints: []string{"glpat-", "gldt-", "glptt-", "glrt-"}},
	{ // Slack token
		match:  regexp.MustCompile(`\bxox[abposre]-[A-Za-z0-9\-]{10,}`),
		minRun: len("xoxb-") + 10, hints: []string{"xox"}},
	{ // Slack webhook
		match: regexp.MustCompile(`hooks\.slack\.com/services/([A-Za-z0-9_/\-]+)`), group: 1,
		anyOf: "/", hints: []string{"hooks.slack.com/services/"}},
	{ // Stripe secret, restricted and webhook keys
		match:  regexp.MustCompile(`\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|\bwhsec_[A-Za-z0-9]{20,}`),
		minRun: len("sk_live_") + 10, hints: []string{"sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"}},
	{ // Google API key
		match:  regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}`),
		minRun: len("AIza") + 35, hints: []string{"aiza"}},
	{ // OpenAI or Anthropic key
		match:  regexp.MustCompile(`\bsk-(?:proj-|ant-[a-z]+\d*-)?[A-Za-z0-9_\-]{20,}`),
		minRun: len("sk-") + 20, hints: []string{"sk-"}},
	{ // npm token
		match:  regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`),
		minRun: len("npm_") + 36, hints: []string{"npm_"}},
	{ // toolgate grant token
		match:  regexp.MustCompile(`\btg_[A-Za-z0-9_\-]{43}`),
		minRun: len("tg_") + 43, hints: []string{"tg_"}},
	{ // a value assigned to a secret's name: "password=…", "token: …"
		match: regexp.MustCompile(
			`(?i)(?:password|passwd|pwd|passphrase|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|authorization|credentials?)` +
				`["']?\s*[:=]\s*["']?([^\s"'&,;]+)`), group: 1, ok: notSchemeOrRedacted,
		anyOf: ":=", hints: []string{"pass", "pwd", "secret", "token", "key", "authorization", "credential"}},
}

// longestRun returns the length of the longest run of letters, digits, '_'
// and '-' in s.
func longestRun(s string) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// notWord rejects a run of letters only ("Basic authentication"): real
// credentials have digits or symbols.
func notWord(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// notSchemeOrRedacted rejects an assignment's value that the authorization
// form handles ("Authorization: Bearer …") or that was hidden already.
func notSchemeOrRedacted(s string) bool {
	switch strings.ToLower(s) {
	case "bearer", "basic", "token", "ssws", strings.ToLower(Redacted):
		return false
	}
	return true
}

// redactString returns s with each credential replaced by Redacted.
func redactString(s string) string {
	if len(s) < len("pwd=x") {
		return s // shorter than any credential found
	}
	// Replacing hides text, never makes a credential, so what s held at
	// first bounds what it can hold later.
	run, lower := longestRun(s), ""
	for _, c := range credentials {
		if run < c.minRun || c.anyOf != "" && !strings.ContainsAny(s, c.anyOf) {
			continue
		}
		if lower == "" {
			lower = strings.ToLower(s)
		}
		if !slices.ContainsFunc(c.hints, func(h string) bool { return strings.Contains(lower, h) }) {
			continue
		}
		m := c.match.FindAllStringSubmatchIndex(s, -1)
		if m == nil {
			continue
		}
		var b strings.Builder
		last := 0
		for _, loc := range m {
			from, to := loc[2*c.group], loc[2*c.group+1]
			if from < 0 || c.ok != nil && !c.ok(s[from:to]) {
				continue
			}
			b.WriteString(s[last:from])
			b.WriteString(Redacted)
			last = to
		}
		if last > 0 {
			b.WriteString(s[last:])
			s = b.String()
		}
	}
	return s
}
