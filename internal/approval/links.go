package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The actions of a link.
const (
	ActionApprove = "approve"
	ActionDeny    = "deny"
)

// Errors from Links.Verify.
var (
	// ErrBadLink means a link is malformed or its signature does not match:
	// it was not made by Links.Sign with this secret, or was altered.
	ErrBadLink = errors.New("approval link not valid")
	// ErrLinkExpired means a genuine link is past its expiry.
	ErrLinkExpired = errors.New("approval link expired")
)

// MinLinkSecret is the shortest secret NewLinks accepts, in bytes.
const MinLinkSecret = 32

// linkDomain separates link signatures from anything else the secret
// might sign.
const linkDomain = "toolgate approval link v1\x00"

// Links makes and checks one-click approve and deny links: URLs that decide
// an approval for whoever opens them, until they expire, because they carry
// an HMAC-SHA256 signature of the approval ID, the action and the expiry,
// keyed with a secret only the gateway knows. Anyone who gets a link can
// use it, so links go only where approvers read (a webhook, a chat
// channel). LinkHandler serves them.
//
// Links is immutable and safe for concurrent use. Make one with NewLinks;
// the zero Links is not usable.
type Links struct {
	base   string // without a trailing slash
	secret []byte
}

// NewLinks returns Links whose URLs start with base, an absolute http or
// https URL without query or fragment (the gateway's address as approvers
// reach it, with any path prefix it is served under), and are signed with
// secret, at least MinLinkSecret random bytes. Every replica of a gateway
// uses the same secret, so that any of them accepts the links of the
// others.
func NewLinks(base string, secret []byte) (*Links, error) {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return nil, fmt.Errorf("approval links: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("approval links: base URL %q is not an absolute http or https URL", base)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("approval links: base URL %q has a query, fragment or user", base)
	case len(secret) < MinLinkSecret:
		return nil, fmt.Errorf("approval links: the secret is %d bytes; it must be at least %d", len(secret), MinLinkSecret)
	}
	return &Links{base: strings.TrimSuffix(base, "/"), secret: append([]byte(nil), secret...)}, nil
}

// Sign returns the link that performs action (ActionApprove or
// ActionDeny) on approval id until expires (to the second):
// BASE/approvals/ID/ACTION?exp=UNIX&sig=HEX.
func (l *Links) Sign(id, action string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return l.base + "/approvals/" + url.PathEscape(id) + "/" + url.PathEscape(action) +
		"?exp=" + exp + "&sig=" + hex.EncodeToString(l.mac(id, action, exp))
}

func (l *Links) mac(id, action, exp string) []byte {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte(linkDomain + id + "|" + action + "|" + exp))
	return m.Sum(nil)
}

// Verify checks the parts of a link at time now: it returns nil if Sign
// made it, ErrBadLink if not (or if it is malformed), and ErrLinkExpired if
// it did but now is at or past its expiry. The signature is compared in
// constant time.
func (l *Links) Verify(id, action, exp, sig string, now time.Time) error {
	if !IsID(id) || action != ActionApprove && action != ActionDeny {
		return ErrBadLink
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, l.mac(id, action, exp)) {
		return ErrBadLink
	}
	// The signature covers exp, so it is one Sign wrote.
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return ErrBadLink
	}
	if now.Unix() >= unix {
		return ErrLinkExpired
	}
	return nil
}
