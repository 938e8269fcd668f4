package grant_test

import (
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/grant"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

var (
	tokenForm = regexp.MustCompile(`^tg_[A-Za-z0-9_-]{43}$`)
	idForm    = regexp.MustCompile(`^grt_[a-z2-7]{16}$`)
	labelForm = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		tok, err := grant.NewToken()
		if err != nil {
			t.Fatalf("NewToken = %v", err)
		}
		if !tokenForm.MatchString(tok) || len(tok) != grant.TokenLen {
			t.Fatalf("NewToken = %q; want %s", tok, tokenForm)
		}
		if seen[tok] {
			t.Fatalf("NewToken returned %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestHash(t *testing.T) {
	for _, tok := range []string{"", "tg_x", strings.Repeat("x", grant.TokenLen), strings.Repeat("x", grant.TokenLen+1)} {
		if got, want := grant.Hash(tok), sha256.Sum256([]byte(tok)); got != want {
			t.Errorf("Hash(%q) = %x; want the SHA-256, %x", tok, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	now := t0.Add(1234 * time.Nanosecond).In(time.FixedZone("X", 3600))
	g, tok, err := grant.New("ci-runner", "okta", now)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	if !tokenForm.MatchString(tok) || !idForm.MatchString(g.ID) || !grant.IsID(g.ID) {
		t.Fatalf("New = ID %q, token %q; want the forms %s and %s", g.ID, tok, idForm, tokenForm)
	}
	want := grant.Grant{ID: g.ID, Label: "ci-runner", Server: "okta", Created: t0.Add(time.Microsecond)}
	if *g != want || g.Created.Location() != time.UTC {
		t.Fatalf("New = %+v; want %+v", *g, want)
	}
	if err := g.Check(); err != nil {
		t.Fatalf("Check(New) = %v", err)
	}
	for _, tt := range []struct{ label, server string }{{"a b", "okta"}, {"ok", ""}, {"ok", "a\x00"}} {
		if _, _, err := grant.New(tt.label, tt.server, t0); !errors.Is(err, grant.ErrInvalid) {
			t.Errorf("New(%q, %q) = %v; want ErrInvalid", tt.label, tt.server, err)
		}
	}
	if err := (&grant.Grant{}).Check(); !errors.Is(err, grant.ErrInvalid) {
		t.Errorf("Check(zero Grant) = %v; want ErrInvalid", err)
	}
}

func TestCheckLabel(t *testing.T) {
	for _, tt := range []struct {
		label string
		ok    bool
	}{
		{"alice-laptop", true},
		{"ci_runner.2", true},
		{strings.Repeat("a", 64), true},
		{"grt", true},
		{"tg", true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"alice laptop", false},
		{"alice/laptop", false},
		{"é", false},
		{"grt_aaaaaaaaaaaaaaaa", false},
		{"grt_x", false},
		{"tg_abc", false},
	} {
		err := grant.CheckLabel(tt.label)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, grant.ErrInvalid) {
			t.Errorf("CheckLabel(%q) = %v; want ok = %v", tt.label, err, tt.ok)
		}
	}
}

func TestIsID(t *testing.T) {
	for _, tt := range []struct {
		s  string
		ok bool
	}{
		{"grt_abcdefghijklmn23", true},
		{"grt_abcdefghijklmn2", false},
		{"grt_abcdefghijklmn234", false},
		{"grt_abcdefghijklmn01", false},
		{"grt_ABCDEFGHIJKLMN23", false},
		{"xyz_abcdefghijklmn23", false},
		{"alice", false},
	} {
		if got := grant.IsID(tt.s); got != tt.ok {
			t.Errorf("IsID(%q) = %v; want %v", tt.s, got, tt.ok)
		}
	}
}

func TestValid(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    grant.Grant
		now  time.Time
		want error
	}{
		{"live", grant.Grant{}, t0, nil},
		{"before expiry", grant.Grant{Expires: t0.Add(time.Second)}, t0, nil},
		{"at expiry", grant.Grant{Expires: t0}, t0, grant.ErrExpired},
		{"after expiry", grant.Grant{Expires: t0}, t0.Add(time.Hour), grant.ErrExpired},
		{"revoked", grant.Grant{Revoked: t0.Add(time.Hour)}, t0, grant.ErrRevoked},
		{"revoked and expired", grant.Grant{Revoked: t0, Expires: t0}, t0, grant.ErrRevoked},
	} {
		if got := tt.g.Valid(tt.now); got != tt.want {
			t.Errorf("Valid(%s) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzCheckLabel(f *testing.F) {
	for _, s := range []string{"alice", "grt_x", "tg_", "", "a b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		err := grant.CheckLabel(label)
		want := labelForm.MatchString(label) && !strings.HasPrefix(label, "grt_") && !strings.HasPrefix(label, "tg_")
		if (err == nil) != want {
			t.Fatalf("CheckLabel(%q) = %v; want ok = %v", label, err, want)
		}
		if err == nil && grant.IsID(label) {
			t.Fatalf("CheckLabel accepts %q, an ID", label)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	tok, _ := grant.NewToken()
	b.ReportAllocs()
	for b.Loop() {
		grant.Hash(tok)
	}
}
