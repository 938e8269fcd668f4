// Package approval is the human approvals of DESIGN.md §5: a call that the
// policy holds for a person (action "approve", or an approve_if condition)
// becomes a pending Approval; an approver approves or denies it through the
// admin API, the CLI, a signed webhook link, MCP elicitation or the console;
// and an approval is single-use, bound to the grant, server, tool and
// argument digest of the call it was made for.
//
// # Life of an approval
//
// An approval is created pending, with an expiry time. It is decided once:
// approved or denied by a person, or expired (Store.Expire, or a decision
// that comes at or after Expires). An approved approval lets exactly one
// call with its Key through (Store.Consume) before it expires, whether that
// is the held call itself or an identical retry after the held call timed
// out. Expires therefore bounds both the decision and that use: the
// gateway sets it well beyond how long it holds a call.
//
// # Pieces
//
//   - Store keeps approvals; backends live in subpackages: sqliteapproval
//     (the embedded store, which the CLI may open next to a running
//     gateway) and pgapproval (shared by replicas). Memory is an in-process
//     store. approvaltest is the contract every Store passes.
//   - Hub holds calls: Wait returns when an approval is decided, at once for
//     decisions made through the Hub and within a poll interval for those
//     made by another process or replica; Subscribe feeds the console.
//   - Notifier posts new approvals to webhooks (JSON or Slack), with
//     one-click approve and deny links signed by Links, whose endpoints
//     LinkHandler serves.
//
// Nothing in this package reads a clock where a caller could pass the time:
// stores take every time as an argument, and the Hub, Notifier and
// LinkHandler take an injectable clock.
package approval

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The states of an approval.
const (
	// Pending approvals wait for a decision.
	Pending = "pending"
	// Approved approvals let one call with their Key through.
	Approved = "approved"
	// Denied approvals were refused by a person.
	Denied = "denied"
	// Expired approvals were not decided before they expired.
	Expired = "expired"
)

// The ways a decision is made, for Decision.Via.
const (
	ViaAPI         = "api"
	ViaCLI         = "cli"
	ViaWebhook     = "webhook"
	ViaElicitation = "elicitation"
	ViaConsole     = "console"
)

// IDPrefix starts every approval ID.
const IDPrefix = "apr_"

const (
	idBytes = 16 // 128 bits: an ID is all a webhook link names
	idLen   = len(IDPrefix) + (idBytes*8+4)/5

	// MaxPreview is the largest Preview a store accepts, in bytes. The
	// gateway truncates larger ones: a preview is for a person to read.
	MaxPreview = 64 << 10
	maxText    = 4096 // any other text field
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// An Approval is one call held for a person's decision. Stores keep its
// times to the microsecond, in UTC. Make one with New; the zero Approval
// fails Check.
type Approval struct {
	// ID is IDPrefix and 26 lowercase base32 characters (128 random bits):
	// unguessable, so that nobody can decide an approval they were not
	// shown, and URL-safe, for links.
	ID string `json:"id"`
	// GrantID and GrantLabel name the grant the call came with; both are ""
	// when the gateway does not authenticate agents.
	GrantID    string `json:"grant_id"`
	GrantLabel string `json:"grant_label"`
	// Session is the MCP session of the call.
	Session string `json:"session"`
	// Server and Tool name the configured MCP server and the tool called.
	Server string `json:"server"`
	Tool   string `json:"tool"`
	// Rule is the JSON pointer of the policy rule that held the call, and
	// PolicyReason the reason the policy gives, if any.
	Rule         string `json:"rule"`
	PolicyReason string `json:"policy_reason"`
	// Preview is a JSON view of the call's arguments for the approver, with
	// secrets redacted by the caller; nil when there is none. It is at most
	// MaxPreview bytes.
	Preview json.RawMessage `json:"preview"`
	// Digest identifies the call's arguments; only a call with the same
	// digest may use the approval.
	Digest string `json:"digest"`
	// Created is when the call was held; Expires is when the approval
	// expires, undecided or unused (see the package documentation).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Status is Pending, Approved, Denied or Expired.
	Status string `json:"status"`
	// DecidedBy, DecisionReason, DecidedAt and Via describe the decision of
	// an approved or denied approval, and are zero otherwise.
	DecidedBy      string    `json:"decided_by,omitempty"`
	DecisionReason string    `json:"decision_reason,omitempty"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	Via            string    `json:"via,omitempty"`
	// ConsumedAt is when an approved approval let a call through; the zero
	// Time means it has not yet.
	ConsumedAt time.Time `json:"consumed_at,omitzero"`
}

// A Key is what binds an approval to a call: the approval lets through
// only a call from the same grant, to the same server and tool, with the
// same argument digest.
type Key struct {
	GrantID, Server, Tool, Digest string
}

// Key returns the key of a.
func (a *Approval) Key() Key {
	return Key{GrantID: a.GrantID, Server: a.Server, Tool: a.Tool, Digest: a.Digest}
}

// Clone returns a deep copy of a.
func (a *Approval) Clone() *Approval {
	c := *a
	if a.Preview != nil {
		c.Preview = append(json.RawMessage(nil), a.Preview...)
	}
	return &c
}

// ExpiredAt reports whether a is past its expiry at time at: at is at or
// after Expires.
func (a *Approval) ExpiredAt(at time.Time) bool { return !at.Before(a.Expires) }

// Consumable reports whether a may let a call through at time at: it is
// approved, unused and not expired.
func (a *Approval) Consumable(at time.Time) bool {
	return a.Status == Approved && a.ConsumedAt.IsZero() && !a.ExpiredAt(at)
}

// NewID returns a new random approval ID.
func NewID() string {
	var b [idBytes]byte
	rand.Read(b[:]) // never fails; see crypto/rand.Read
	return IDPrefix + idEncoding.EncodeToString(b[:])
}

// IsID reports whether s has the form of an approval ID. Stores answer
// ErrNotFound for anything else without a lookup.
func IsID(s string) bool {
	if len(s) != idLen || !strings.HasPrefix(s, IDPrefix) {
		return false
	}
	for _, c := range []byte(s[len(IDPrefix):]) {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// New returns a pending approval for a call with key k, with a fresh ID,
// created at created and expiring at expires (both to the microsecond, in
// UTC). The caller fills in GrantLabel, Session, Rule, PolicyReason and
// Preview before passing it to Store.Create.
func New(k Key, created, expires time.Time) *Approval {
	return &Approval{
		ID:      NewID(),
		GrantID: k.GrantID,
		Server:  k.Server,
		Tool:    k.Tool,
		Digest:  k.Digest,
		Created: Round(created),
		Expires: Round(expires),
		Status:  Pending,
	}
}

// Round returns t as stores keep it: in UTC, truncated to the microsecond.
func Round(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Errors returned by stores, the Hub and links. They may be wrapped; use
// errors.Is.
var (
	// ErrNotFound means no approval has the ID asked for, or, from Consume
	// and FindPending, none matches.
	ErrNotFound = errors.New("approval not found")
	// ErrDecided means the approval was already approved or denied. Decide
	// returns it as a *DecidedError carrying the approval.
	ErrDecided = errors.New("approval already decided")
	// ErrExpired means the approval expired before it was decided. Decide
	// returns it as a *DecidedError carrying the approval.
	ErrExpired = errors.New("approval expired")
	// ErrExists means an approval with the same ID exists.
	ErrExists = errors.New("approval already exists")
	// ErrInvalid means an approval or decision given to a store is
	// malformed; the wrapping error says how.
	ErrInvalid = errors.New("invalid approval")
	// ErrClosed means the store, Hub or Notifier was closed.
	ErrClosed = errors.New("approval store closed")
)

// A DecidedError is what Decide returns for an approval that is no longer
// pending: Approval is its state as stored, showing who decided it, how and
// when. It matches ErrDecided when a person approved or denied it, and
// ErrExpired when it expired.
type DecidedError struct {
	Approval *Approval
}

func (e *DecidedError) Error() string {
	a := e.Approval
	if a.Status == Expired {
		return fmt.Sprintf("approval %s expired at %s", a.ID, a.Expires.Format(time.RFC3339))
	}
	s := fmt.Sprintf("approval %s was already %s by %s at %s", a.ID, a.Status, a.DecidedBy, a.DecidedAt.Format(time.RFC3339))
	if a.DecisionReason != "" {
		s += ": " + a.DecisionReason
	}
	return s
}

// Is reports whether target is ErrDecided or ErrExpired, as fits the
// approval's status.
func (e *DecidedError) Is(target error) bool {
	switch target {
	case ErrDecided:
		return e.Approval.Status == Approved || e.Approval.Status == Denied
	case ErrExpired:
		return e.Approval.Status == Expired
	}
	return false
}

// Check returns nil if a store can create a, or an error wrapping
// ErrInvalid that says what is wrong: a malformed ID; empty Server, Tool or
// Digest; text that is not printable UTF-8 or too long; a Preview that is
// not JSON or larger than MaxPreview; a zero Created; Expires not after
// Created; a Status other than Pending; or decision or consumption fields
// set.
func (a *Approval) Check() error {
	if !IsID(a.ID) {
		return fmt.Errorf("%w: ID %q is not %s and %d base32 characters", ErrInvalid, a.ID, IDPrefix, idLen-len(IDPrefix))
	}
	for _, f := range []struct {
		name  string
		value string
		min   int
	}{
		{"grant ID", a.GrantID, 0},
		{"grant label", a.GrantLabel, 0},
		{"session", a.Session, 0},
		{"server", a.Server, 1},
		{"tool", a.Tool, 1},
		{"rule", a.Rule, 0},
		{"policy reason", a.PolicyReason, 0},
		{"digest", a.Digest, 1},
	} {
		if err := checkText(f.name, f.value, f.min); err != nil {
			return fmt.Errorf("%w %s: %w", ErrInvalid, a.ID, err)
		}
	}
	switch {
	case len(a.Preview) > MaxPreview:
		return fmt.Errorf("%w %s: preview of %d bytes is larger than %d", ErrInvalid, a.ID, len(a.Preview), MaxPreview)
	case len(a.Preview) > 0 && !json.Valid(a.Preview):
		return fmt.Errorf("%w %s: preview is not JSON", ErrInvalid, a.ID)
	case a.Created.IsZero():
		return fmt.Errorf("%w %s: no creation time", ErrInvalid, a.ID)
	case !a.Expires.After(a.Created):
		return fmt.Errorf("%w %s: expires at %v, not after its creation at %v", ErrInvalid, a.ID, a.Expires, a.Created)
	case a.Status != Pending:
		return fmt.Errorf("%w %s: a new approval is %s, not %s", ErrInvalid, a.ID, a.Status, Pending)
	case a.DecidedBy != "" || a.DecisionReason != "" || !a.DecidedAt.IsZero() || a.Via != "":
		return fmt.Errorf("%w %s: a new approval has a decision", ErrInvalid, a.ID)
	case !a.ConsumedAt.IsZero():
		return fmt.Errorf("%w %s: a new approval is already consumed", ErrInvalid, a.ID)
	}
	return nil
}

func checkText(what, s string, min int) error {
	if len(s) < min || len(s) > maxText {
		return fmt.Errorf("%s %q is not %d to %d bytes long", what, s, min, maxText)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s %q is not printable UTF-8", what, s)
	}
	return nil
}

// A Decision is a person's answer to an approval.
type Decision struct {
	// Approve is true to approve, false to deny.
	Approve bool
	// By names who decided: an admin user, a CLI user, "webhook link", the
	// MCP client's user.
	By string
	// Reason is why, optionally; for a denial, the agent is shown it.
	Reason string
	// Via is how: ViaAPI, ViaCLI, ViaWebhook, ViaElicitation or ViaConsole.
	Via string
	// At is when.
	At time.Time
}

// Check returns nil if d can be recorded, or an error wrapping ErrInvalid:
// an empty By, an unknown Via, text that is not printable UTF-8 or too
// long, or a zero At.
func (d *Decision) Check() error {
	switch d.Via {
	case ViaAPI, ViaCLI, ViaWebhook, ViaElicitation, ViaConsole:
	default:
		return fmt.Errorf("%w decision: via %q is not one of api, cli, webhook, elicitation, console", ErrInvalid, d.Via)
	}
	if err := checkText("decided by", d.By, 1); err != nil {
		return fmt.Errorf("%w decision: %w", ErrInvalid, err)
	}
	// A reason is free text, often typed by a person: line breaks are fine.
	if len(d.Reason) > maxText || !utf8.ValidString(d.Reason) {
		return fmt.Errorf("%w decision: the reason is not valid UTF-8 of at most %d bytes", ErrInvalid, maxText)
	}
	if d.At.IsZero() {
		return fmt.Errorf("%w decision: no time", ErrInvalid)
	}
	return nil
}

// Apply is the rule every store follows to decide a, as stored, with d,
// which passed Check. It returns the approval to write and Decide's error:
//
//   - a pending approval decided before it expires: the decided approval,
//     and nil;
//   - a pending approval decided at or after Expires: the approval marked
//     Expired, and a *DecidedError with it;
//   - an approval no longer pending: nil (nothing to write), and a
//     *DecidedError with a.
//
// Apply does not modify a.
func (a *Approval) Apply(d Decision) (*Approval, error) {
	if a.Status != Pending {
		return nil, &DecidedError{Approval: a.Clone()}
	}
	next := a.Clone()
	if a.ExpiredAt(d.At) {
		next.Status = Expired
		return next, &DecidedError{Approval: next.Clone()}
	}
	next.Status = Denied
	if d.Approve {
		next.Status = Approved
	}
	next.DecidedBy, next.DecisionReason, next.Via, next.DecidedAt = d.By, d.Reason, d.Via, Round(d.At)
	return next, nil
}

// A Filter selects approvals for Store.List. Its zero value selects all.
type Filter struct {
	// Status, if not "", selects approvals in that state.
	Status string
	// Server and GrantID, if not "", select approvals for that server or
	// grant.
	Server, GrantID string
	// Limit, if positive, is the most approvals to return.
	Limit int
}

// Match reports whether f selects a, ignoring Limit.
func (f *Filter) Match(a *Approval) bool {
	return (f.Status == "" || f.Status == a.Status) &&
		(f.Server == "" || f.Server == a.Server) &&
		(f.GrantID == "" || f.GrantID == a.GrantID)
}

// Store keeps approvals. Implementations are safe for concurrent use by
// any number of goroutines, and by several processes or replicas sharing a
// database as each backend documents: every method reflects everything
// committed through any store on the same database before it started. They
// never read a clock: every time comes from the arguments. Their methods
// return ErrClosed after Close.
type Store interface {
	// Create adds a, which passes Check. Its errors are ErrInvalid,
	// ErrExists and the database's.
	Create(ctx context.Context, a *Approval) error
	// Get returns the approval with ID id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Approval, error)
	// List returns the approvals f selects, newest first (by Created,
	// then ID).
	List(ctx context.Context, f Filter) ([]*Approval, error)
	// Decide records d, which must pass Check, on approval id, following
	// Apply: it returns the decided approval, or ErrNotFound, ErrInvalid,
	// or a *DecidedError (ErrDecided, or ErrExpired) with the approval as
	// stored. Of any number of Decides on one approval, racing through any
	// number of stores on the same database, exactly one succeeds.
	Decide(ctx context.Context, id string, d Decision) (*Approval, error)
	// Consume marks as consumed at time at one approval with key k that is
	// Consumable at that time, the one decided first, and returns it; or
	// returns ErrNotFound when there is none. An approval is consumed once,
	// however many Consumes race through however many stores.
	Consume(ctx context.Context, k Key, at time.Time) (*Approval, error)
	// FindPending returns the newest approval with key k that is pending
	// and not expired at time at, or ErrNotFound, so that a call retried
	// while its approval is undecided waits on that approval instead of
	// making another.
	FindPending(ctx context.Context, k Key, at time.Time) (*Approval, error)
	// Expire marks Expired every pending approval expired at time at, and
	// returns how many it marked.
	Expire(ctx context.Context, at time.Time) (int, error)
	// Close releases the store. Calling it again returns nil.
	Close() error
}
