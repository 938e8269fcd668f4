// Package audit is the gateway's record of its decisions (DESIGN.md §6):
// one Record for every MCP request it decides on, kept in a tamper-evident
// Store and written off the call path by a Writer.
//
// # Records
//
// A Record says who called (grant, session, user), what (server, method,
// tool, the arguments' keys and digest, their values only when configured,
// redacted), what the gateway decided and why (decision, rule pointer,
// message, counters spent, approval), and what happened upstream. Digest,
// Keys, Redact and Canonical turn a call's arguments into those fields;
// Record.SetArgs does all of it.
//
// # Tamper evidence
//
// A Store numbers records 1, 2, 3, … (Seq) and chains them: each record's
// Hash is the SHA-256 of the previous record's Hash (Prev) and its own
// fields (see Record.Sum). Editing, deleting or reordering records in the
// database breaks the chain where it happened, and Store.Verify names the
// record and the kind of damage (a Problem). The chain's head (the newest
// record's Seq and Hash) is kept apart from the records, so deleting the
// newest records is caught too. Someone able to rewrite the database can
// rebuild a consistent chain; VerifyReport.Head lets an operator keep the
// head elsewhere and compare later.
//
// Retention (Store.Prune) deletes the oldest records and remembers the last
// deleted one's Seq and Hash as the chain's anchor, so what remains still
// verifies.
//
// # Writing
//
// The gateway writes through a Writer, which batches records into one
// Store.Append per batch from a goroutine of its own: in its default mode a
// Write only queues the record, and every record is appended within
// WriterOptions.FlushEvery; in sync mode a Write returns once the record is
// stored, and concurrent writers share a transaction (group commit).
//
// # Backends
//
// Memory, in this package, keeps records in memory, for tests. The stores
// with heavier dependencies live in subpackages: sqliteaudit (the default,
// a file in the gateway's state directory, which the CLI may open at the
// same time) and pgaudit (shared by several gateway replicas). audittest
// is the contract every Store passes.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The decisions the gateway records. Stores keep Record.Decision as given,
// so other values are stored too.
const (
	DecisionAllow           = "allow"            // forwarded
	DecisionDeny            = "deny"             // refused by a rule
	DecisionHidden          = "hidden"           // a hidden tool was called
	DecisionLimited         = "limited"          // refused by a rate limit or budget
	DecisionApprovalPending = "approval_pending" // held for a human
	DecisionApproved        = "approved"         // a human approved, and it was forwarded
	DecisionApprovalDenied  = "approval_denied"  // a human refused, or nobody answered in time
	DecisionError           = "error"            // the gateway could not decide
	DecisionToolChanged     = "tool_changed"     // refused: the tool changed upstream
)

// The upstream statuses of a forwarded call. Record.UpstreamStatus is ""
// when the call was not forwarded.
const (
	UpstreamOK          = "ok"          // the upstream answered with a result
	UpstreamToolError   = "tool_error"  // the result has isError set
	UpstreamError       = "error"       // the upstream answered with a JSON-RPC error
	UpstreamUnreachable = "unreachable" // no answer: connection or transport failure
)

// Record is one decision of the gateway. Its JSON encoding, field names in
// snake_case and empty fields left out, is the CLI's JSONL output.
//
// A Store keeps every field exactly as Append normalized it (see
// Record.Seal): times in UTC to the microsecond, strings as valid UTF-8
// without NUL. A Record is not safe for concurrent use; once written to a
// Writer or appended to a Store it belongs to them until the call returns,
// and to the Writer for good.
type Record struct {
	// Seq numbers the record in its store: 1 for the first record ever
	// appended, then one more for each. Set by Append.
	Seq int64 `json:"seq"`
	// Time is when the gateway received the request. A Writer sets it,
	// from its clock, when it is zero.
	Time time.Time `json:"time"`
	// RequestID identifies the request: the JSON-RPC id, or an ID the
	// gateway made.
	RequestID string `json:"request_id,omitempty"`
	// GrantID and GrantLabel name the agent credential, "" when
	// authentication is off.
	GrantID    string `json:"grant_id,omitempty"`
	GrantLabel string `json:"grant_label,omitempty"`
	// Session is the MCP session ID.
	Session string `json:"session,omitempty"`
	// User is the authenticated end user, "" when none.
	User string `json:"user,omitempty"`
	// Server is the configured upstream MCP server's name.
	Server string `json:"server,omitempty"`
	// Method is the MCP method, e.g. "tools/call".
	Method string `json:"method,omitempty"`
	// Tool is the tool called, for tools/call.
	Tool string `json:"tool,omitempty"`
	// Decision is one of the Decision constants.
	Decision string `json:"decision"`
	// Rule is the JSON pointer of the policy rule that decided, e.g.
	// "/tools/delete_user/deny_if/0".
	Rule string `json:"rule,omitempty"`
	// Message is the reason given to the agent, or the error.
	Message string `json:"message,omitempty"`
	// Counters are the budgets the call spent from, or was refused by.
	Counters []CounterUse `json:"counters,omitempty"`
	// UpstreamStatus is one of the Upstream constants, "" when the call was
	// not forwarded.
	UpstreamStatus string `json:"upstream_status,omitempty"`
	// UpstreamLatency is the time from forwarding the request to the
	// upstream's answer.
	UpstreamLatency time.Duration `json:"upstream_latency_ns,omitempty"`
	// Overhead is the time the gateway spent on the call itself: the
	// request's time in the gateway less UpstreamLatency.
	Overhead time.Duration `json:"overhead_ns,omitempty"`
	// ArgKeys are the top-level keys of the call's arguments, sorted.
	ArgKeys []string `json:"arg_keys,omitempty"`
	// ArgDigest is the Digest of the arguments, redacted (see SetArgs).
	ArgDigest string `json:"arg_digest,omitempty"`
	// Args are the arguments, redacted, in Canonical form; nil unless the
	// gateway is configured to keep argument values.
	Args json.RawMessage `json:"args,omitempty"`
	// Approval is how a human answered, for calls held for approval.
	Approval *ApprovalInfo `json:"approval,omitempty"`
	// Prev is the Hash of the record before this one in the chain, "" for
	// the first record. Set by Append.
	Prev string `json:"prev,omitempty"`
	// Hash is Sum(): the lowercase hex SHA-256 of Prev and the record's
	// other fields. Set by Append.
	Hash string `json:"hash"`
}

// CounterUse is what a call spent from one budget (a rate limit's counter
// in one scope), or tried to.
type CounterUse struct {
	// Counter is the limit's counter name, and Rule the limit's JSON
	// pointer, e.g. "/tools/provision/limits/0".
	Counter string `json:"counter"`
	Rule    string `json:"rule,omitempty"`
	// Scope is "grant", "session", "user" or "server", and Key the
	// scope's value: the grant ID, session ID or user whose budget it is
	// ("" for "server").
	Scope string `json:"scope,omitempty"`
	Key   string `json:"key,omitempty"`
	// Cost is what the call spent, or would have; Max and Window are the
	// limit's.
	Cost   int64         `json:"cost"`
	Max    int64         `json:"max"`
	Window time.Duration `json:"window_ns"`
	// Denied reports that this budget could not take the cost, so the call
	// was refused and spent nothing.
	Denied bool `json:"denied,omitempty"`
}

// ApprovalInfo is how a human answered a call held for approval.
type ApprovalInfo struct {
	// ID identifies the pending approval.
	ID string `json:"id,omitempty"`
	// DecidedBy is who answered, "" when nobody did before the timeout.
	DecidedBy string `json:"decided_by,omitempty"`
	// DecidedAt is when, zero when nobody answered.
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Reason is the answer's comment, or why the call was refused.
	Reason string `json:"reason,omitempty"`
}

// Store keeps the chain of records. Implementations are safe for
// concurrent use, and keep one valid chain when several stores (processes,
// replicas) share a database. Every method but Close returns ErrClosed,
// wrapped, after Close.
type Store interface {
	// Append stores recs, in order, as one transaction: it seals each (see
	// Record.Seal), numbering them after the chain's head, and stores all or
	// none. On success recs hold their Seq, Prev and Hash; on failure their
	// values are meaningless, and the records can be appended again.
	Append(ctx context.Context, recs []*Record) error
	// Query returns the records f selects, in Seq order (newest first with
	// f.Desc). Records with a given Seq are found through an index, so
	// paging with AfterSeq is cheap however large the store.
	Query(ctx context.Context, f Filter) ([]*Record, error)
	// Verify checks the whole chain, from the anchor left by Prune to the
	// head, in one consistent view. An error means it could not be read;
	// damage is in the report.
	Verify(ctx context.Context) (*VerifyReport, error)
	// Prune deletes the oldest records, those before the first whose Time
	// is not before before, and returns how many. The last deleted becomes
	// the chain's anchor, so the rest still verifies. Records older than
	// before that follow a newer one (clocks of replicas differ) are kept
	// until a later Prune. Prune checks what it deletes and refuses to
	// delete damaged records, which would hide the damage: it then returns
	// an error naming the first problem, having deleted the intact records
	// before it, or some of them.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Close releases the store. It does not close a pool the caller gave
	// the store.
	Close() error
}

// Filter selects records. The zero Filter selects every record, oldest
// first. Conditions combine with AND.
type Filter struct {
	// Since and Until bound Time: Since <= Time < Until. Zero means
	// unbounded.
	Since, Until time.Time
	// Grant matches GrantID or GrantLabel.
	Grant string
	// Server, Tool and Decision match their fields exactly; "" matches
	// any.
	Server, Tool, Decision string
	// AfterSeq and BeforeSeq bound Seq: AfterSeq < Seq < BeforeSeq. Zero
	// means unbounded. Follow new records with AfterSeq set to the last
	// Seq seen; page backwards through Desc results with BeforeSeq.
	AfterSeq, BeforeSeq int64
	// Limit is the most records returned, the first in the order asked
	// for; zero or less means no limit.
	Limit int
	// Desc returns the newest records first.
	Desc bool
}

// Sink is where the gateway sends records: a *Writer, or Discard.
type Sink interface {
	// Write takes r, which belongs to the sink from then on.
	Write(ctx context.Context, r *Record) error
}

// Discard is a Sink that drops every record, for a gateway with auditing
// off. It is safe for concurrent use.
var Discard Sink = discard{}

type discard struct{}

func (discard) Write(context.Context, *Record) error { return nil }

// ErrClosed is returned, wrapped, by a Store or Writer used after Close.
var ErrClosed = errors.New("audit log closed")
