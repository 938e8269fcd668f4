package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// hashVersion starts the encoding Sum hashes. A change to the encoding
// changes it, so that old records keep verifying under the old encoding.
const hashVersion = "toolgate audit record v1\n"

// Seal prepares r to be stored as record number seq after the record whose
// Hash is prev: it normalizes r to what every store keeps exactly, then sets
// Seq, Prev and Hash. Stores call it in Append, in chain order.
//
// Normalizing sets Time and Approval.DecidedAt to UTC, truncated to the
// microsecond; makes every string valid UTF-8 without NUL (each invalid
// byte and NUL becomes U+FFFD); makes empty Counters, ArgKeys and Args nil;
// compacts Args, or, if they are not valid JSON, replaces them with a JSON
// string of their text.
func (r *Record) Seal(seq int64, prev string) {
	r.normalize()
	r.Seq, r.Prev = seq, prev
	r.Hash = r.Sum()
}

func (r *Record) normalize() {
	r.Time = micro(r.Time)
	for _, p := range [...]*string{&r.RequestID, &r.GrantID, &r.GrantLabel, &r.Session, &r.User,
		&r.Server, &r.Method, &r.Tool, &r.Decision, &r.Rule, &r.Message, &r.UpstreamStatus, &r.ArgDigest} {
		*p = clean(*p)
	}
	if len(r.Counters) == 0 {
		r.Counters = nil
	}
	for i := range r.Counters {
		c := &r.Counters[i]
		c.Counter, c.Rule, c.Scope, c.Key = clean(c.Counter), clean(c.Rule), clean(c.Scope), clean(c.Key)
	}
	if len(r.ArgKeys) == 0 {
		r.ArgKeys = nil
	}
	for i, k := range r.ArgKeys {
		r.ArgKeys[i] = clean(k)
	}
	switch {
	case len(r.Args) == 0:
		r.Args = nil
	case !json.Valid(r.Args):
		r.Args, _ = json.Marshal(string(r.Args)) // a string cannot fail
	default:
		var b bytes.Buffer
		if json.Compact(&b, r.Args) == nil && b.Len() != len(r.Args) {
			r.Args = b.Bytes()
		}
	}
	if a := r.Approval; a != nil {
		a.ID, a.DecidedBy, a.Reason = clean(a.ID), clean(a.DecidedBy), clean(a.Reason)
		a.DecidedAt = micro(a.DecidedAt)
	}
}

// micro returns t in UTC, truncated to the microsecond; the zero Time stays
// zero.
func micro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// clean returns s as valid UTF-8 without NUL, which PostgreSQL's text
// refuses.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Sum returns the hash r's fields call for, which Hash holds in a sealed,
// intact record: the lowercase hex SHA-256 of an encoding of Prev, Seq and
// every other field but Hash.
//
// The encoding is the bytes "toolgate audit record v1\n" followed by the
// fields in the order Record declares them, Prev moved first: a string is
// its length in bytes as a uvarint, then its bytes; an integer or duration
// is 8 bytes, big-endian two's complement; a time is its Unix microseconds
// so encoded; a bool is one byte, 0 or 1; a slice is its length as a
// uvarint, then its elements; Args and Approval are a byte, 0 for nil or 1,
// then (for 1) Args as a string, or the ApprovalInfo's fields. A CounterUse
// is its fields in declared order.
//
// Sum reads r as it is; only a sealed record's Sum is what a store checks.
func (r *Record) Sum() string {
	return sum(r.Prev, r.Seq, r)
}

// sum is Sum with the chain fields given apart, so that Verify can try a
// record's content at another place.
func sum(prev string, seq int64, r *Record) string {
	e := make(enc, 0, 512)
	e = append(e, hashVersion...)
	e = e.str(prev).int(seq).time(r.Time).
		str(r.RequestID).str(r.GrantID).str(r.GrantLabel).str(r.Session).str(r.User).
		str(r.Server).str(r.Method).str(r.Tool).str(r.Decision).str(r.Rule).str(r.Message)
	e = e.len(len(r.Counters))
	for _, c := range r.Counters {
		e = e.str(c.Counter).str(c.Rule).str(c.Scope).str(c.Key).int(c.Cost).int(c.Max).int(int64(c.Window)).bool(c.Denied)
	}
	e = e.str(r.UpstreamStatus).int(int64(r.UpstreamLatency)).int(int64(r.Overhead))
	e = e.len(len(r.ArgKeys))
	for _, k := range r.ArgKeys {
		e = e.str(k)
	}
	e = e.str(r.ArgDigest)
	e = e.bool(r.Args != nil)
	if r.Args != nil {
		e = e.str(string(r.Args))
	}
	e = e.bool(r.Approval != nil)
	if a := r.Approval; a != nil {
		e = e.str(a.ID).str(a.DecidedBy).time(a.DecidedAt).str(a.Reason)
	}
	h := sha256.Sum256(e)
	return hex.EncodeToString(h[:])
}

// enc appends Sum's encoding of values.
type enc []byte

func (e enc) len(n int) enc { return binary.AppendUvarint(e, uint64(n)) }

func (e enc) str(s string) enc { return append(e.len(len(s)), s...) }

func (e enc) int(n int64) enc { return binary.BigEndian.AppendUint64(e, uint64(n)) }

func (e enc) time(t time.Time) enc { return e.int(t.UnixMicro()) }

func (e enc) bool(b bool) enc {
	if b {
		return append(e, 1)
	}
	return append(e, 0)
}

// The kinds of Problem.
const (
	// KindEdited: the record's content changed after it was stored. Either
	// its Hash does not match its content, or the Hash was recomputed and
	// the next record (or the chain's head) links to the old one.
	KindEdited = "edited"
	// KindDeleted: records are missing. The Problem's Seq is the first
	// missing one.
	KindDeleted = "deleted"
	// KindReordered: the record's content belongs at another Seq, which the
	// Detail names.
	KindReordered = "reordered"
	// KindBroken: the chain does not hold together in another way, e.g. the
	// first record does not link to the anchor Prune left, or records were
	// added after the head.
	KindBroken = "broken"
)

// Problem is a place where the chain is damaged.
type Problem struct {
	// Seq is the record concerned; for KindDeleted, the first missing
	// one.
	Seq int64 `json:"seq"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Detail says what was found, in a sentence fragment for people.
	Detail string `json:"detail"`
}

// String returns the problem for people: "record 42: edited: …".
func (p Problem) String() string {
	return fmt.Sprintf("record %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// MaxProblems is the most problems a VerifyReport lists.
const MaxProblems = 100

// VerifyReport is the result of Store.Verify.
type VerifyReport struct {
	// Checked is how many records were read; First and Last are the Seqs of
	// the first and last, 0 when there were none.
	Checked int64 `json:"checked"`
	First   int64 `json:"first,omitempty"`
	Last    int64 `json:"last,omitempty"`
	// AnchorSeq and Anchor are the Seq and Hash of the last record Prune
	// deleted, where the chain starts: 0 and "" before any Prune.
	AnchorSeq int64  `json:"anchor_seq"`
	Anchor    string `json:"anchor,omitempty"`
	// HeadSeq and Head are the Seq and Hash of the newest record, as the
	// store keeps them apart from the records. An operator who keeps a copy
	// of the head elsewhere can check later that the chain still holds it
	// (that the record at HeadSeq has that Hash), which no rewrite of the
	// database can fake.
	HeadSeq int64  `json:"head_seq"`
	Head    string `json:"head,omitempty"`
	// Problems are the damage found, in Seq order: the first MaxProblems.
	Problems []Problem `json:"problems,omitempty"`
	// Truncated reports that there were more problems than Problems holds.
	Truncated bool `json:"truncated,omitempty"`
}

// OK reports whether the chain is intact.
func (v *VerifyReport) OK() bool { return len(v.Problems) == 0 && !v.Truncated }

// Verifier checks a chain, one record at a time, for the stores' Verify.
// Make one with NewVerifier, Add every record in Seq order, then call
// Report. A Verifier is not safe for concurrent use; the zero Verifier
// checks a chain with no anchor.
type Verifier struct {
	anchorSeq  int64
	anchorHash string
	prevSeq    int64  // the last record added, or the anchor
	prevHash   string // its Hash
	prevBad    bool   // its Hash did not match its content
	checked    int64
	first      int64
	problems   []Problem
	suspects   []*Record // records whose Hash does not match their content
	truncated  bool
}

// keepProblems bounds the problems a Verifier keeps, counting the damaged
// records it keeps to classify in Report, so that a badly damaged chain
// costs bounded memory and time (classifying compares damaged records with
// each other). Problems are found in nearly Seq order (a few one record
// behind), so the first keepProblems found hold the first MaxProblems by
// Seq.
const keepProblems = 2 * MaxProblems

// NewVerifier returns a Verifier for a chain whose anchor (see
// VerifyReport) is anchorSeq and anchorHash.
func NewVerifier(anchorSeq int64, anchorHash string) *Verifier {
	return &Verifier{anchorSeq: anchorSeq, anchorHash: anchorHash, prevSeq: anchorSeq, prevHash: anchorHash}
}

// full reports whether the Verifier keeps no more problems, and if so
// notes that some are left out.
func (v *Verifier) full() bool {
	if len(v.problems)+len(v.suspects) < keepProblems {
		return false
	}
	v.truncated = true
	return true
}

func (v *Verifier) problem(seq int64, kind, detail string) {
	if !v.full() {
		v.problems = append(v.problems, Problem{Seq: seq, Kind: kind, Detail: detail})
	}
}

func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d is missing", from)
	}
	return fmt.Sprintf("records %d to %d are missing", from, to)
}

// Add checks the next record, given with the error of reading it from the
// database, if any: a record that cannot be read whole (a column holds
// something else than the store writes) is damaged. It keeps r when r is
// damaged, so the caller must pass a new Record each time.
func (v *Verifier) Add(r *Record, readErr error) {
	v.checked++
	if v.first == 0 {
		v.first = r.Seq
	}
	if r.Seq <= v.prevSeq {
		if r.Seq <= v.anchorSeq {
			v.problem(r.Seq, KindBroken, fmt.Sprintf("it should have been pruned: the chain starts after record %d", v.anchorSeq))
		} else {
			v.problem(r.Seq, KindBroken, fmt.Sprintf("it comes after record %d", v.prevSeq))
		}
		return
	}
	intact := readErr == nil && r.Sum() == r.Hash
	gap := r.Seq > v.prevSeq+1
	switch {
	case gap:
		v.problem(v.prevSeq+1, KindDeleted, missing(v.prevSeq+1, r.Seq-1))
	case !intact, v.prevBad, r.Prev == v.prevHash:
		// A damaged record is classified in Report; the link from after a
		// damaged one says nothing more.
	case v.prevSeq == v.anchorSeq && v.anchorSeq == 0:
		v.problem(r.Seq, KindBroken, "the first record links to a record before it")
	case v.prevSeq == v.anchorSeq:
		v.problem(r.Seq, KindBroken, fmt.Sprintf("it does not link to the anchor Prune left (record %d)", v.anchorSeq))
	default:
		// Both are intact, so the previous one was changed and its Hash
		// recomputed.
		v.problem(v.prevSeq, KindEdited, fmt.Sprintf("its hash was recomputed after a change: record %d links to another", r.Seq))
	}
	switch {
	case readErr != nil:
		v.problem(r.Seq, KindEdited, fmt.Sprintf("it cannot be read: %v", readErr))
	case !intact && !v.full():
		v.suspects = append(v.suspects, r)
	}
	v.prevSeq, v.prevHash, v.prevBad = r.Seq, r.Hash, !intact
}

// Report returns the findings, given the chain's head as the store keeps
// it. The Verifier must not be used afterwards.
func (v *Verifier) Report(headSeq int64, headHash string) *VerifyReport {
	rep := &VerifyReport{
		Checked: v.checked, First: v.first, AnchorSeq: v.anchorSeq, Anchor: v.anchorHash,
		HeadSeq: headSeq, Head: headHash,
	}
	if v.checked > 0 {
		rep.Last = v.prevSeq
	}
	switch last := v.prevSeq; {
	case last < headSeq:
		v.problem(last+1, KindDeleted, missing(last+1, headSeq)+", up to the head")
	case last > headSeq && v.checked > 0:
		v.problem(headSeq+1, KindBroken, fmt.Sprintf("records after the head (record %d) were added outside the store", headSeq))
	case last > headSeq:
		v.problem(headSeq, KindBroken, fmt.Sprintf("the head (record %d) is before the anchor Prune left (record %d)", headSeq, last))
	case v.prevHash == headHash, v.prevBad:
	case v.checked == 0:
		v.problem(headSeq, KindBroken, "the head does not match the anchor Prune left")
	default:
		v.problem(last, KindEdited, "its hash was recomputed after a change: the head records another")
	}
	v.classify()
	slices.SortStableFunc(v.problems, func(a, b Problem) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	rep.Problems, rep.Truncated = v.problems, v.truncated
	if len(rep.Problems) > MaxProblems {
		rep.Problems, rep.Truncated = rep.Problems[:MaxProblems:MaxProblems], true
	}
	return rep
}

// classify reports each record whose Hash does not match its content:
// reordered when its content hashes right at another damaged record's
// place, whether its chain fields moved with it or stayed; edited
// otherwise.
func (v *Verifier) classify() {
	for _, s := range v.suspects {
		moved := int64(0)
		for _, t := range v.suspects {
			if t != s && (sum(s.Prev, t.Seq, s) == s.Hash || sum(t.Prev, t.Seq, s) == t.Hash) {
				moved = t.Seq
				break
			}
		}
		// Counted already, when s was kept.
		if moved != 0 {
			v.problems = append(v.problems, Problem{s.Seq, KindReordered, fmt.Sprintf("it holds record %d", moved)})
		} else {
			v.problems = append(v.problems, Problem{s.Seq, KindEdited, "its hash does not match its content"})
		}
	}
}

// Stretch picks the records a Prune deletes, and checks them first: the
// oldest records, from the chain's anchor up to the first whose Time is not
// before a given time. Make one with NewStretch, Add records in Seq order
// from the anchor while it returns true, then call End. A Stretch is not
// safe for concurrent use.
type Stretch struct {
	v       *Verifier
	before  time.Time
	added   int
	stopped bool
}

// NewStretch returns a Stretch starting after the anchor anchorSeq,
// anchorHash, of records older than before.
func NewStretch(anchorSeq int64, anchorHash string, before time.Time) *Stretch {
	return &Stretch{v: NewVerifier(anchorSeq, anchorHash), before: before}
}

// Add takes the next record, with the error of reading it (as for
// Verifier.Add), and reports whether it is to be deleted: false means the
// stretch ended before it, and nothing more is to be added.
func (s *Stretch) Add(r *Record, readErr error) bool {
	if s.stopped || !r.Time.Before(s.before) {
		s.stopped = true
		return false
	}
	s.added++
	s.v.Add(r, readErr)
	return true
}

// End returns the Seq and Hash of the last record to delete, which become
// the anchor: the old anchor when there is none. It fails when the
// records to delete are damaged, since deleting them would hide it.
func (s *Stretch) End() (seq int64, hash string, err error) {
	v := s.v
	if s.added == 0 {
		return v.anchorSeq, v.anchorHash, nil
	}
	seq, hash = v.prevSeq, v.prevHash
	rep := v.Report(seq, hash)
	if !rep.OK() {
		return 0, "", fmt.Errorf("refusing to delete damaged records (run verify): %s", rep.Problems[0])
	}
	return seq, hash, nil
}

// More reports whether records after the stretch may be old enough too: it
// took limit records and did not reach a newer one.
func (s *Stretch) More(limit int) bool { return !s.stopped && s.added >= limit }

// PruneStretches runs prune, which deletes one stretch of records and says
// whether there may be more, until it says not or fails, and returns how
// many records were deleted in all. Stores' Prune methods share it.
func PruneStretches(prune func() (n int64, more bool, err error)) (int64, error) {
	var total int64
	for {
		n, more, err := prune()
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}
