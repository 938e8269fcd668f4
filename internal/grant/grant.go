// Package grant is agent credentials (DESIGN.md §3): a grant is a labelled
// bearer token for one agent ("alice-laptop", "ci-runner") and one
// configured MCP server, shown once when it is made, stored only as a hash,
// revocable and optionally expiring. Clients send it as
// "Authorization: Bearer <token>"; the gateway never forwards it upstream.
//
// # Tokens
//
// A token is TokenPrefix followed by 256 bits from crypto/rand in unpadded
// URL-safe base64. The fixed prefix lets secret scanners recognize a leaked
// token. Stores keep Hash(token), the SHA-256 of the token, never the token
// itself, and find a grant by that hash.
//
// Every request is authenticated, so Lookup is on the hot path. Backends
// serve it from memory and must still reflect, at the next Lookup, every
// Create and Revoke that returned before it, whichever process or replica
// made it; each backend documents how it keeps that promise.
//
// # Timing
//
// Lookup finds a grant by hash (a map or an index probe), not by comparing
// secrets byte by byte, so nothing about a token can be learned from how
// long a lookup takes: the time can depend on the hash, and SHA-256 reveals
// nothing about which token has a given hash prefix. No constant-time
// comparison is needed anywhere in this package for that reason.
//
// # Backends
//
// The stores live in subpackages: sqlitegrant (the embedded store in the
// gateway's state directory, which the CLI may open at the same time) and
// pggrant (shared by several gateway replicas). granttest is the contract
// every Store passes.
package grant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A Grant is one agent credential, as stored, without its token or hash.
// Stores keep its times to the microsecond, in UTC. Make one with New: the
// zero Grant fails Check.
type Grant struct {
	// ID is "grt_" and 16 lowercase base32 characters, random, unique and
	// stable: it names the grant in logs, audit records and the CLI.
	ID string
	// Label names the agent. It matches [A-Za-z0-9._-]{1,64} and does not
	// start with "grt_" or TokenPrefix; no two live (unrevoked) grants share
	// one, so it can name a live grant. A revoked grant's label can be used
	// again.
	Label string
	// Server is the name of the configured MCP server the grant may use.
	Server string
	// Policy is the policy file bound to the grant, or "" for the server's.
	Policy string
	// Created is when the grant was made.
	Created time.Time
	// Expires is when the grant stops being valid; the zero Time is never.
	Expires time.Time
	// Revoked is when the grant was revoked; the zero Time means it is live.
	Revoked time.Time
	// LastUsed is when the grant was last used, as recorded by Touch; the
	// zero Time means never. It is recorded lazily: see Store.Touch.
	LastUsed time.Time
}

// Errors returned by Valid and by stores. Stores may wrap them; use
// errors.Is.
var (
	// ErrNotFound means no grant has the token, ID or live label asked for.
	ErrNotFound = errors.New("grant not found")
	// ErrRevoked means the grant was revoked.
	ErrRevoked = errors.New("grant revoked")
	// ErrExpired means the grant's expiry time has passed.
	ErrExpired = errors.New("grant expired")
	// ErrExists means a live grant already has the label (or, by
	// astronomical chance, the ID or hash) of the grant being created.
	ErrExists = errors.New("grant already exists")
	// ErrInvalid means a grant, label, hash or time given to a store is
	// malformed; the wrapping error says which.
	ErrInvalid = errors.New("invalid grant")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("grant store closed")
)

// Valid reports whether g may be used at time now: it returns nil,
// ErrRevoked for a revoked grant (whatever its Revoked time) or ErrExpired
// when now is at or after a non-zero Expires. The errors are the bare
// sentinels, so Valid does not allocate.
func (g *Grant) Valid(now time.Time) error {
	switch {
	case !g.Revoked.IsZero():
		return ErrRevoked
	case !g.Expires.IsZero() && !now.Before(g.Expires):
		return ErrExpired
	}
	return nil
}

// Check returns nil if a store can create g, or an error wrapping
// ErrInvalid that says what is wrong: a malformed ID or label, an empty or
// malformed Server or Policy, a zero Created, an Expires not after Created
// or a non-zero Revoked. Stores call it in Create.
func (g *Grant) Check() error {
	if err := checkID(g.ID); err != nil {
		return err
	}
	if err := CheckLabel(g.Label); err != nil {
		return err
	}
	if err := checkText("server", g.Server, 1, maxServer); err != nil {
		return err
	}
	if err := checkText("policy", g.Policy, 0, maxPolicy); err != nil {
		return err
	}
	switch {
	case g.Created.IsZero():
		return fmt.Errorf("%w %s: no creation time", ErrInvalid, g.ID)
	case !g.Expires.IsZero() && !g.Expires.After(g.Created):
		return fmt.Errorf("%w %s: expires at %v, not after its creation at %v", ErrInvalid, g.ID, g.Expires, g.Created)
	case !g.Revoked.IsZero():
		return fmt.Errorf("%w %s: a new grant cannot be revoked", ErrInvalid, g.ID)
	}
	return nil
}

const (
	// TokenPrefix starts every token, for secret scanners and people.
	TokenPrefix = "tg_"
	// IDPrefix starts every grant ID.
	IDPrefix = "grt_"

	tokenBytes = 32 // 256 bits of entropy
	// TokenLen is the length of a token: the prefix and 43 base64 characters.
	TokenLen = len(TokenPrefix) + (tokenBytes*8+5)/6

	idBytes  = 10 // 80 bits: IDs need to be unique, not secret
	idLen    = len(IDPrefix) + idBytes*8/5
	maxLabel = 64
	// Server names come from the config file; these bounds only keep
	// garbage out of the store.
	maxServer = 256
	maxPolicy = 4096
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewToken returns a new random token. It fails only if the system's
// random source does.
func NewToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new grant token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Hash returns the SHA-256 of token, the only form of it a store keeps.
//
// A fast, unsalted hash is enough because tokens are 256-bit random
// strings, not passwords: a slow KDF or a salt defends against guessing
// low-entropy secrets from a stolen hash, and no amount of hashing speed
// makes guessing 2^256 values feasible. It also keeps the hash
// deterministic, so stores can find a grant by it in one probe, and cheap on
// the hot path (under a microsecond, where a KDF would cost milliseconds per
// request).
func Hash(token string) [32]byte {
	// Copied to the stack: converting a string longer than 32 bytes to a
	// []byte allocates.
	var b [TokenLen]byte
	if len(token) <= len(b) {
		return sha256.Sum256(b[:copy(b[:], token)])
	}
	return sha256.Sum256([]byte(token))
}

// New returns a new live grant with a fresh ID, the label and server given,
// created at now (to the microsecond), and its token. The caller may set
// Policy and Expires before passing the grant and Hash(token) to
// Store.Create, shows the token to the user once and then forgets it. New
// returns an error wrapping ErrInvalid for a malformed label or server, and
// an error if the system's random source fails.
func New(label, server string, now time.Time) (g *Grant, token string, err error) {
	if err := CheckLabel(label); err != nil {
		return nil, "", err
	}
	if err := checkText("server", server, 1, maxServer); err != nil {
		return nil, "", err
	}
	var b [idBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", fmt.Errorf("new grant ID: %w", err)
	}
	if token, err = NewToken(); err != nil {
		return nil, "", err
	}
	g = &Grant{
		ID:      IDPrefix + idEncoding.EncodeToString(b[:]),
		Label:   label,
		Server:  server,
		Created: now.UTC().Truncate(time.Microsecond),
	}
	return g, token, nil
}

// IsID reports whether s has the form of a grant ID. Labels never do, so
// Store.Revoke can tell an ID from a label.
func IsID(s string) bool { return checkID(s) == nil }

func checkID(id string) error {
	if len(id) != idLen || !strings.HasPrefix(id, IDPrefix) {
		return fmt.Errorf("%w: ID %q is not %s and %d base32 characters", ErrInvalid, id, IDPrefix, idLen-len(IDPrefix))
	}
	for _, c := range []byte(id[len(IDPrefix):]) {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return fmt.Errorf("%w: ID %q has a character outside [a-z2-7]", ErrInvalid, id)
		}
	}
	return nil
}

// CheckLabel returns nil if label can name a grant, or an error wrapping
// ErrInvalid. A label matches [A-Za-z0-9._-]{1,64} and does not start with
// "grt_" (so it cannot be mistaken for an ID) or TokenPrefix (so a token
// pasted by mistake is not stored, and shown, in the clear).
func CheckLabel(label string) error {
	if len(label) == 0 || len(label) > maxLabel {
		return fmt.Errorf("%w: label %q is not 1 to %d characters long", ErrInvalid, label, maxLabel)
	}
	for _, c := range []byte(label) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: label %q has a character outside [A-Za-z0-9._-]", ErrInvalid, label)
		}
	}
	for _, p := range []string{IDPrefix, TokenPrefix} {
		if strings.HasPrefix(label, p) {
			return fmt.Errorf("%w: label %q starts with %q", ErrInvalid, label, p)
		}
	}
	return nil
}

// checkText checks that s is valid UTF-8 without control characters, of
// min to max bytes.
func checkText(what, s string, min, max int) error {
	if len(s) < min || len(s) > max {
		return fmt.Errorf("%w: %s %q is not %d to %d bytes long", ErrInvalid, what, s, min, max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%w: %s %q is not printable UTF-8", ErrInvalid, what, s)
	}
	return nil
}

// Store keeps grants. Implementations are safe for concurrent use by any
// number of goroutines, and by several processes or replicas sharing a
// database as each backend documents. Their methods return ErrClosed after
// Close.
type Store interface {
	// Create adds g, a grant from New that passes Check, with the hash of
	// its token. It returns an error wrapping ErrInvalid for a grant that
	// fails Check or a zero hash, and ErrExists when a live grant has the
	// same label. When Create returns nil, every Lookup of the hash that
	// starts after, through any store on the same database, finds g.
	Create(ctx context.Context, g *Grant, hash [32]byte) error
	// Lookup returns the grant whose token has the hash given, or
	// ErrNotFound. It returns revoked and expired grants too, so that the
	// caller can name them when it refuses them: check Valid, or use
	// Authenticate, which does. A Lookup reflects every Create and Revoke
	// that returned before it started, through any store on the same
	// database. The Grant is the caller's; its LastUsed may lag behind Touch.
	Lookup(ctx context.Context, hash [32]byte) (*Grant, error)
	// List returns every grant, live or not, newest first (by Created, then
	// ID). Hashes are never returned: a Grant has no field for one.
	List(ctx context.Context) ([]*Grant, error)
	// Revoke revokes, as of at, the grant with ID idOrLabel if it is an ID
	// (IsID), else the live grant with that label, and returns it. It
	// returns ErrNotFound when there is no such grant, and the grant as it
	// was with ErrRevoked when the ID names a grant already revoked. A zero
	// at is ErrInvalid. When Revoke returns nil, every Lookup of the grant
	// that starts after, through any store on the same database, returns it
	// revoked.
	Revoke(ctx context.Context, idOrLabel string, at time.Time) (*Grant, error)
	// Touch records that grant id was used at time at. It is cheap enough
	// to call on every request: it keeps the latest time per grant in
	// memory, and the store writes those times in the background, a few
	// seconds apart at most, and at Close. List on the same store shows a
	// Touch at once; other stores see it once it is written. Times earlier
	// than the grant's LastUsed are ignored, and so are unknown IDs. It
	// returns only ErrClosed.
	Touch(ctx context.Context, id string, at time.Time) error
	// Close writes the pending Touch times and releases the store. Calling
	// it again returns nil.
	Close() error
}

// Authenticate returns the grant whose token is token if it is valid at
// now, and records its use with Touch. For a revoked or expired grant it
// returns the grant too, with ErrRevoked or ErrExpired, so that the caller
// can log which grant was refused (the client should see only an HTTP 401).
// A token that is not of the form NewToken makes is ErrNotFound without a
// lookup. Other errors are the store's: refuse the request then too.
//
// Authenticate does not check Server: the caller must refuse a grant used
// for another server than its own.
func Authenticate(ctx context.Context, s Store, token string, now time.Time) (*Grant, error) {
	if len(token) != TokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return nil, ErrNotFound
	}
	g, err := s.Lookup(ctx, Hash(token))
	if err != nil {
		return nil, err
	}
	if err := g.Valid(now); err != nil {
		return g, err
	}
	if err := s.Touch(ctx, g.ID, now); err != nil {
		return nil, err
	}
	return g, nil
}
