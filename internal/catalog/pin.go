package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Definition returns the canonical encoding of the parts of t's definition
// that a model reads or that decide what a call can do: its name, title,
// description, input and output schemas and annotations. It is JSON with
// the keys of every object sorted and no insignificant space, so that
// re-ordering the keys of a tools/list response does not change it, and
// numbers as encoding/json writes float64s, so that 1.0 and 1 are one
// number.
//
// Annotations are encoded by their meaning: a hint that is absent and one
// set to its default-valued zero (readOnlyHint false, idempotentHint
// false) are the same, and the encoding does not depend on how an SDK
// version writes them.
//
// Left out are _meta, which the protocol reserves for metadata that
// servers and intermediaries may add or change per response and clients do
// not show to models, so that pinning it would flag changes that carry no
// risk and teach people to accept changes unread; icons, which only people
// see; and fields the MCP SDK does not decode. A schema that cannot be
// encoded as JSON (possible only for a tool built in-process, never for
// one received from a server) is encoded as the error's message.
func Definition(t *mcp.Tool) json.RawMessage {
	if t == nil {
		t = &mcp.Tool{}
	}
	def := map[string]any{
		"name":        t.Name,
		"inputSchema": canonical(t.InputSchema),
	}
	if t.Title != "" {
		def["title"] = t.Title
	}
	if t.Description != "" {
		def["description"] = t.Description
	}
	if t.OutputSchema != nil {
		def["outputSchema"] = canonical(t.OutputSchema)
	}
	if a := t.Annotations; a != nil {
		ann := map[string]any{}
		if a.DestructiveHint != nil {
			ann["destructiveHint"] = *a.DestructiveHint
		}
		if a.IdempotentHint {
			ann["idempotentHint"] = true
		}
		if a.OpenWorldHint != nil {
			ann["openWorldHint"] = *a.OpenWorldHint
		}
		if a.ReadOnlyHint {
			ann["readOnlyHint"] = true
		}
		if a.Title != "" {
			ann["title"] = a.Title
		}
		if len(ann) > 0 {
			def["annotations"] = ann
		}
	}
	return encode(def)
}

// canonical returns v as decoded from its JSON encoding: maps of any and
// float64s, which encode with sorted keys.
func canonical(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return "unencodable: " + err.Error()
	}
	return out
}

// encode encodes a value made of maps, slices, strings, float64s, bools
// and nils, which cannot fail.
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Unreachable: the value came from json.Unmarshal.
		return []byte("null")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// DigestPrefix starts every digest: it names the hash, so that another can
// be added.
const DigestPrefix = "sha256:"

// Digest returns "sha256:" and the hexadecimal SHA-256 of Definition(t):
// the fingerprint a PinStore keeps for each tool.
func Digest(t *mcp.Tool) string {
	return DefinitionDigest(Definition(t))
}

// DefinitionDigest returns the digest of an encoded definition.
func DefinitionDigest(def []byte) string {
	sum := sha256.Sum256(def)
	return DigestPrefix + hex.EncodeToString(sum[:])
}

// Pin statuses.
const (
	// StatusPinned means the last definition seen is the pinned one.
	StatusPinned = "pinned"
	// StatusChanged means the last definition seen differs from the pinned
	// one, and waits in Pending for a person to accept it.
	StatusChanged = "changed"
)

// Pin is what a PinStore knows of one tool of one server: the definition
// pinned when it was first seen or last accepted, and a change waiting to
// be accepted. Times are in UTC, to the microsecond.
type Pin struct {
	Server string `json:"server"`
	Tool   string `json:"tool"`
	// Status is StatusChanged when Pending is set, else StatusPinned.
	Status string `json:"status"`
	// Digest and Definition are the pinned definition's (see Definition).
	Digest     string          `json:"digest"`
	Definition json.RawMessage `json:"definition"`
	// FirstSeen is when the tool was first seen.
	FirstSeen time.Time `json:"first_seen"`
	// AcceptedAt and AcceptedBy say when and by whom the pinned definition
	// was accepted; zero and "" for the definition pinned when the tool was
	// first seen.
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
	AcceptedBy string    `json:"accepted_by,omitempty"`
	// Pending is the last definition seen, when it differs from the pinned
	// one; nil otherwise.
	Pending *PendingChange `json:"pending,omitempty"`
}

// PendingChange is a definition seen that differs from the pinned one.
type PendingChange struct {
	Digest     string          `json:"digest"`
	Definition json.RawMessage `json:"definition"`
	// SeenAt is when this definition was first seen.
	SeenAt time.Time `json:"seen_at"`
}

// Errors of PinStores. Stores wrap them; use errors.Is.
var (
	// ErrNoPin means the store has no pin for the server and tool.
	ErrNoPin = errors.New("no pin for the tool")
	// ErrNotPending means Accept found no pending change to accept.
	ErrNotPending = errors.New("no pending change to accept")
	// ErrStale means Accept was given the digest of a change that is no
	// longer the pending one: the definition changed again since it was
	// reviewed.
	ErrStale = errors.New("the pending change is not the one accepted")
	// ErrInvalidPin means an argument is malformed: an empty server or
	// tool, a digest that is not Digest of the tool, a zero time; the
	// wrapping error says which.
	ErrInvalidPin = errors.New("invalid pin argument")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("pin store closed")
)

// PinStore records the definition of every tool of every server the first
// time it is seen, and the changes seen since, so that a changed tool can
// be flagged and, with "pin: strict", withheld until a person accepts the
// change. Implementations are safe for concurrent use, and several stores,
// in several processes, may share one database: each operation is atomic.
type PinStore interface {
	// Observe records that server serves t, whose digest is Digest(t), as
	// of at, and returns the tool's pin. The first sighting of a tool pins
	// its definition (StatusPinned). Seeing the pinned definition again
	// returns the pin unchanged, and drops a pending change: the server
	// went back to the definition accepted. Seeing another definition
	// records it as the pending change (StatusChanged), replacing an older
	// pending change. Errors: ErrInvalidPin, ErrClosed and the database's.
	Observe(ctx context.Context, server string, t *mcp.Tool, digest string, at time.Time) (Pin, error)
	// Accept makes the pending change of the tool, whose digest must be
	// digest, its pinned definition, accepted by by at at, and returns the
	// new pin. It fails with ErrNoPin for an unknown tool; ErrNotPending
	// when nothing is pending and ErrStale when the pending change has
	// another digest, both with the current pin; ErrInvalidPin, ErrClosed
	// and the database's.
	Accept(ctx context.Context, server, tool, digest, by string, at time.Time) (Pin, error)
	// List returns the pins of server's tools, or of every server's when
	// server is "", sorted by server and tool. Errors: ErrClosed and the
	// database's.
	List(ctx context.Context, server string) ([]Pin, error)
	// Close releases the store. Later calls fail with ErrClosed; Close
	// itself may be called again.
	Close() error
}
