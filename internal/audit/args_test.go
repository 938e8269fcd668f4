package audit_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/audit"
)

func TestSecretKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"password", true},
		{"Password", true},
		{"user_password", true},
		{"newPassword2", true},
		{"passwd", true},
		{"passphrase", true},
		{"token", true},
		{"accessToken", true},
		{"refresh_token", true},
		{"max_tokens", true}, // a count, but the name cannot tell
		{"secret", true},
		{"client_secret", true},
		{"authorization", true},
		{"Proxy-Authorization", true},
		{"cookie", true},
		{"Set-Cookie", true},
		{"credentials", true},
		{"apiKey", true},
		{"api_key", true},
		{"X-API-Key", true},
		{"APIKey", true},
		{"apikey", true},
		{"privateKey", true},
		{"aws_access_key_id", true},
		{"key", true},
		{"KEY", true},
		{"ssh_keys", true},
		{"key2", true},
		{"sort_key", true}, // a lookup key, but the name cannot tell
		{"pwd", true},
		{"auth", true},
		{"Auth", true},
		{"x-auth", true},
		{"bearer", true},
		{"jwt", true},
		{"monkey", false},
		{"keyboard", false},
		{"keynote", false},
		{"hockeyScore", false},
		{"turkey_count", false},
		{"author", false},
		{"authors", false},
		{"username", false},
		{"passport", false},
		{"query", false},
		{"limit", false},
		{"", false},
		{"описание", false},
	}
	for _, tt := range tests {
		if got := audit.SecretKey(tt.key); got != tt.want {
			t.Errorf("SecretKey(%q) = %v; want %v", tt.key, got, tt.want)
		}
	}
}

func TestRedactStrings(t *testing.T) {
	const R = audit.Redacted
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nq3Xz==\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello world", "hello world"},
		{"short", "abc", "abc"},
		{"prose", "Basic authentication and a bearer of news", "Basic authentication and a bearer of news"},
		{"bearer header", "Authorization: Bearer abc123def456ghi", "Authorization: Bearer " + R},
		{"bearer lower case", "curl -H 'authorization: bearer 0a1b2c3d4e5f'", "curl -H 'authorization: bearer " + R + "'"},
		{"basic", "Basic dXNlcjpwYXNzd29yZA==", "Basic " + R},
		{"token scheme", "Authorization: token 9f8e7d6c5b4a", "Authorization: token " + R},
		{"okta", "SSWS 00abcdefghijklmnopqrstuvwxyz0123456789AB", "SSWS " + R},
		{"JWT", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U in text",
			"jwt " + R + " in text"},
		{"AWS access key", "key id AKIAIOSFODNN7EXAMPLE here", "key id " + R + " here"},
		{"AWS session key", "ASIAY34FZKBOKMUTVV7A", R},
		{"not AWS", "AKIA is a prefix", "AKIA is a prefix"},
		{"GitHub", "ghp_" + strings.Repeat("a1", 18), R},
		{"GitHub app", "token=ghs_" + strings.Repeat("Z9", 18), "token=" + R},
		{"GitHub fine-grained", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", R},
		{"GitLab", "glpat-" + strings.Repeat("x", 20), R},
		{"Slack", "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx", R},
		{"Slack webhook", "post to https://hooks.slack.com/services/T000/B000/XXXXXXXX now",
			"post to https://hooks.slack.com/services/" + R + " now"},
		{"Stripe", "sk_live_" + strings.Repeat("4eC39HqLyjWDarjtT1zdp7dc", 1), R},
		{"Stripe test", "rk_test_abcdefghij0123", R},
		{"Google", "AIza" + strings.Repeat("B", 35), R},
		{"OpenAI", "sk-proj-" + strings.Repeat("Ab1", 10), R},
		{"Anthropic", "sk-ant-api03-" + strings.Repeat("Xy_", 10), R},
		{"npm", "npm_" + strings.Repeat("a", 36), R},
		{"toolgate", "tg_" + strings.Repeat("Q", 43), R},
		{"PEM", "key:\n" + pem + "\nend", "key:\n" + R + "\nend"},
		{"PEM unterminated", "-----BEGIN PRIVATE KEY-----\nMIIE", R},
		{"PEM public", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"},
		{"URL password", "postgres://app:s3cr3t@db:5432/x", "postgres://app:" + R + "@db:5432/x"},
		{"URL without password", "https://example.com:8443/path", "https://example.com:8443/path"},
		{"assignment", "password=hunter2 user=bob", "password=" + R + " user=bob"},
		{"assignment colon", "db secret: swordfish", "db secret: " + R},
		{"assignment in JSON text", `{"api_key": "abc123", "n": 1}`, `{"api_key": "` + R + `", "n": 1}`},
		{"assignment in query", "https://x.test/?access_key=zzz&q=1", "https://x.test/?access_key=" + R + "&q=1"},
		{"assignment of a count", "max_tokens=5", "max_tokens=5"},
		{"several", "Bearer aaaa1111 and Bearer bbbb2222", "Bearer " + R + " and Bearer " + R},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := audit.Redact(map[string]any{"text": tt.in})["text"]
			if got != tt.want {
				t.Errorf("Redact(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	const R = audit.Redacted
	in := map[string]any{
		"query":    "status eq ACTIVE",
		"password": "hunter2",
		"apiKey":   map[string]any{"nested": "whole value hidden"},
		"limit":    float64(10),
		"users": []any{
			map[string]any{"name": "ann", "token": "t1"},
			"Bearer abcdef123456",
			nil, true, json.Number("1.5"),
		},
		"headers": map[string]string{"Cookie": "session=1", "Accept": "text/plain"}, // not what JSON decodes to
		"monkey":  "banana",
	}
	want := map[string]any{
		"query":    "status eq ACTIVE",
		"password": R,
		"apiKey":   R,
		"limit":    float64(10),
		"users": []any{
			map[string]any{"name": "ann", "token": R},
			"Bearer " + R,
			nil, true, json.Number("1.5"),
		},
		"headers": map[string]any{"Cookie": R, "Accept": "text/plain"},
		"monkey":  "banana",
	}
	before, _ := json.Marshal(in)
	got := audit.Redact(in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Redact =\n%#v\nwant\n%#v", got, want)
	}
	if after, _ := json.Marshal(in); string(after) != string(before) {
		t.Fatalf("Redact changed its argument: %s; was %s", after, before)
	}
	// A deep copy: changing it changes nothing in the argument.
	got["users"].([]any)[0].(map[string]any)["name"] = "changed"
	if in["users"].([]any)[0].(map[string]any)["name"] != "ann" {
		t.Fatal("the result of Redact shares a nested map with its argument")
	}
	if audit.Redact(nil) != nil {
		t.Fatal("Redact(nil) != nil")
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want string
	}{
		{"nil", nil, `{}`},
		{"empty", map[string]any{}, `{}`},
		{"sorted keys, nested", map[string]any{"b": float64(1), "a": map[string]any{"d": float64(2), "c": []any{float64(3), "x"}}},
			`{"a":{"c":[3,"x"],"d":2},"b":1}`},
		{"keys by UTF-8 bytes", map[string]any{"é": 1, "z": 2, "A": 3, "": 4}, `{"":4,"A":3,"z":2,"é":1}`},
		{"floats", map[string]any{"a": 1.0, "b": 1e21, "c": 1e-7, "d": 0.1, "e": -2.5e-300, "f": math.Copysign(0, -1), "g": 123456789012.0},
			`{"a":1,"b":1e+21,"c":1e-7,"d":0.1,"e":-2.5e-300,"f":0,"g":123456789012}`},
		{"not numbers", map[string]any{"a": math.NaN(), "b": math.Inf(1), "c": math.Inf(-1)}, `{"a":"NaN","b":"+Inf","c":"-Inf"}`},
		{"numbers as they came", map[string]any{"a": json.Number("1.0"), "b": json.Number("1e2"), "c": json.Number("x1")},
			`{"a":1.0,"b":1e2,"c":"x1"}`},
		{"integers", map[string]any{"a": 5, "b": int64(-7), "c": uint8(255), "d": float32(0.1)}, `{"a":5,"b":-7,"c":255,"d":0.1}`},
		{"literals", map[string]any{"a": nil, "b": true, "c": false}, `{"a":null,"b":true,"c":false}`},
		{"strings", map[string]any{"s": "<>&\"\\/\n\t\x01\u2028é\xff"}, `{"s":"<>&\"\\/\n\t\u0001` + "\u2028é\uFFFD" + `"}`},
		{"other types", map[string]any{"m": map[string]int{"b": 2, "a": 1}, "s": []string{"x"}, "r": json.RawMessage(`{"z": 1, "y": [ ]}`)},
			`{"m":{"a":1,"b":2},"r":{"y":[],"z":1},"s":["x"]}`},
		{"unencodable", map[string]any{"c": make(chan int)}, `{"c":"[json: unsupported type: chan int]"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := audit.Canonical(tt.in)
			if string(got) != tt.want {
				t.Fatalf("Canonical(%v) = %s; want %s", tt.in, got, tt.want)
			}
			h := sha256.Sum256([]byte(tt.want))
			if d := audit.Digest(tt.in); d != hex.EncodeToString(h[:]) {
				t.Fatalf("Digest(%v) = %s; want the SHA-256 of %s", tt.in, d, tt.want)
			}
		})
	}
}

// TestCanonicalDeep checks that nesting deeper than the limit is cut off,
// not a stack overflow.
func TestCanonicalDeep(t *testing.T) {
	m := map[string]any{}
	inner := m
	for range 5000 {
		next := map[string]any{}
		inner["a"] = next
		inner = next
	}
	c := audit.Canonical(m)
	if !json.Valid(c) || !strings.Contains(string(c), `"[too deep]"`) {
		t.Fatalf("Canonical of 5000 levels = %.80s…; want valid JSON, cut off", c)
	}
	r := audit.Redact(m)
	if !json.Valid(audit.Canonical(r)) {
		t.Fatal("Redact of 5000 levels is not encodable")
	}
}

// TestDigestOrder checks that the digest does not depend on the order of
// keys in the JSON the arguments came in.
func TestDigestOrder(t *testing.T) {
	var a, b map[string]any
	if err := json.Unmarshal([]byte(`{"x": 1, "y": {"p": [1, 2], "q": "s"}, "z": null}`), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"z":null,"y":{"q":"s","p":[1,2]},"x":1.0}`), &b); err != nil {
		t.Fatal(err)
	}
	if audit.Digest(a) != audit.Digest(b) {
		t.Fatalf("Digest differs by key order: %s, %s", audit.Canonical(a), audit.Canonical(b))
	}
	b["x"] = 2.0
	if audit.Digest(a) == audit.Digest(b) {
		t.Fatal("Digest is the same for different values")
	}
}

func TestKeys(t *testing.T) {
	if got := audit.Keys(map[string]any{"b": 1, "a": map[string]any{"z": 1}, "C": 2}); !slices.Equal(got, []string{"C", "a", "b"}) {
		t.Fatalf("Keys = %v; want [C a b]", got)
	}
	if got := audit.Keys(nil); got != nil {
		t.Fatalf("Keys(nil) = %v; want nil", got)
	}
}

func TestSetArgs(t *testing.T) {
	args := map[string]any{"user": "ann", "password": "hunter2", "note": "Bearer abc123456789"}
	var r audit.Record
	r.SetArgs(args, false)
	if !slices.Equal(r.ArgKeys, []string{"note", "password", "user"}) || r.Args != nil {
		t.Fatalf("SetArgs(values false) = keys %v, args %s; want the keys, no args", r.ArgKeys, r.Args)
	}
	if r.ArgDigest != audit.Digest(audit.Redact(args)) {
		t.Fatalf("ArgDigest = %s; want the digest of the redacted arguments", r.ArgDigest)
	}
	// Two calls that differ only in a secret have the same digest, so the
	// digest cannot be used to test guesses.
	var other audit.Record
	other.SetArgs(map[string]any{"user": "ann", "password": "letmein", "note": "Bearer zzz999999999"}, false)
	if other.ArgDigest != r.ArgDigest {
		t.Fatal("the digest depends on a redacted secret")
	}
	r.SetArgs(args, true)
	want := `{"note":"Bearer [REDACTED]","password":"[REDACTED]","user":"ann"}`
	if string(r.Args) != want {
		t.Fatalf("SetArgs(values true).Args = %s; want %s", r.Args, want)
	}
	if args["password"] != "hunter2" || args["note"] != "Bearer abc123456789" {
		t.Fatalf("SetArgs changed its argument: %v", args)
	}
	r.SetArgs(nil, true)
	if r.ArgKeys != nil || string(r.Args) != "{}" || r.ArgDigest != audit.Digest(nil) {
		t.Fatalf("SetArgs(nil) = keys %v, args %s, digest %s", r.ArgKeys, r.Args, r.ArgDigest)
	}
}

// FuzzCanonical checks that the canonical form of any JSON object is valid
// JSON, decodes to the same value, and is its own canonical form.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"b":[1,"x",null,true,{"c":-0.0}],"a":1e400}`, `{"s":"\u0000\ud800"}`,
		`{"n":123456789012345678901234567890}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil || m == nil {
			return
		}
		c := audit.Canonical(m)
		if !json.Valid(c) {
			t.Fatalf("Canonical(%s) = %s, not valid JSON", s, c)
		}
		var back map[string]any
		if err := json.Unmarshal(c, &back); err != nil {
			t.Fatal(err)
		}
		if c2 := audit.Canonical(back); string(c2) != string(c) {
			t.Fatalf("Canonical is not stable: %s, then %s", c, c2)
		}
		if r := audit.Redact(m); !json.Valid(audit.Canonical(r)) {
			t.Fatalf("Redact(%s) is not encodable", s)
		}
	})
}

// BenchmarkSetArgs measures what the gateway spends per call on a tools/call's
// arguments, without and with values kept.
func BenchmarkSetArgs(b *testing.B) {
	var args map[string]any
	if err := json.Unmarshal([]byte(`{"query": "status eq \"ACTIVE\" and profile.lastName sw \"Sm\"", "limit": 25,
		"after": "00u1abcdEFGH2345ijkl", "expand": ["groups", "factors"], "filter": {"created": {"gt": "2026-01-01"}}}`), &args); err != nil {
		b.Fatal(err)
	}
	for _, values := range []bool{false, true} {
		b.Run(fmt.Sprintf("values=%v", values), func(b *testing.B) {
			b.ReportAllocs()
			var r audit.Record
			for b.Loop() {
				r.SetArgs(args, values)
			}
		})
	}
}
