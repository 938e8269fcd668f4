package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
)

// keySet is one fetched JWKS. It is never modified once built.
type keySet struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// candidates returns the keys that may have signed a token with the given
// kid and alg: those with that kid, or every key if kid is empty, that fit
// alg.
func (s *keySet) candidates(kid string, alg jose.SignatureAlgorithm) []*jose.JSONWebKey {
	var out []*jose.JSONWebKey
	for i := range s.keys {
		k := &s.keys[i]
		if (kid == "" || k.KeyID == kid) && fits(k, alg) {
			out = append(out, k)
		}
	}
	return out
}

// keyCache fetches the key set and keeps the newest one. Concurrent callers
// that need a fetch share one, and fetches start at most once per
// minInterval, whatever the tokens say.
type keyCache struct {
	url                          string
	client                       *http.Client
	now                          func() time.Time
	timeout, minInterval, maxAge time.Duration
	maxBytes                     int64

	// cur is the newest key set fetched; nil before the first success. It is
	// read without mu on every Verify.
	cur atomic.Pointer[keySet]

	mu          sync.Mutex
	lastAttempt time.Time     // guarded by mu; when the newest fetch started
	lastErr     error         // guarded by mu; how it failed, nil if it did not
	inflight    chan struct{} // guarded by mu; closed when the fetch under way ends; nil if none
}

// get returns the key set to verify with, fetching it if there is none yet
// or if it is older than maxAge. A stale set is kept if the fetch fails.
func (c *keyCache) get(ctx context.Context) (*keySet, error) {
	ks := c.cur.Load()
	if ks != nil && c.now().Sub(ks.fetched) < c.maxAge {
		return ks, nil
	}
	fresh, err := c.refresh(ctx, ks)
	if err != nil {
		if ks != nil {
			return ks, nil
		}
		return nil, err
	}
	return fresh, nil
}

// refresh returns a key set newer than seen (nil for none): one another
// caller fetched in the meantime, the result of a fetch under way, or that
// of a new fetch. Within minInterval of the last fetch it fetches nothing
// and returns the current set, or the last fetch's error if it failed.
//
// The fetch runs in the calling goroutine, detached from ctx's cancellation
// (so that one client hanging up does not fail it for everyone) but bounded
// by timeout; callers that only wait for it stop waiting when ctx ends.
func (c *keyCache) refresh(ctx context.Context, seen *keySet) (*keySet, error) {
	c.mu.Lock()
	if cur := c.cur.Load(); cur != seen {
		c.mu.Unlock()
		return cur, nil
	}
	if ch := c.inflight; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.last()
	}
	if !c.lastAttempt.IsZero() && c.now().Sub(c.lastAttempt) < c.minInterval {
		defer c.mu.Unlock()
		return c.last()
	}
	c.lastAttempt = c.now()
	ch := make(chan struct{})
	c.inflight = ch
	c.mu.Unlock()

	var ks *keySet
	var err error
	defer func() {
		c.mu.Lock()
		if err == nil {
			c.cur.Store(ks)
		}
		c.lastErr = err
		c.inflight = nil
		close(ch)
		c.mu.Unlock()
	}()
	ks, err = c.fetch(ctx)
	return ks, err
}

// last returns the outcome of the newest fetch. c.mu must be held.
func (c *keyCache) last() (*keySet, error) {
	if c.lastErr != nil {
		return nil, c.lastErr
	}
	return c.cur.Load(), nil
}

// fetch gets and parses the key set.
func (c *keyCache) fetch(ctx context.Context) (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySetUnavailable, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySetUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: status %s", ErrKeySetUnavailable, c.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrKeySetUnavailable, c.url, err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, fmt.Errorf("%w: GET %s: more than %d bytes", ErrKeySetUnavailable, c.url, c.maxBytes)
	}
	ks, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrKeySetUnavailable, c.url, err)
	}
	ks.fetched = c.now()
	return ks, nil
}

// parseKeySet keeps the public signing keys of a JWKS document and ignores
// the keys it cannot use, as RFC 7517 §5 asks. Keys with private parts are
// ignored too: go-jose warns that parsing them is unsafe for untrusted
// input, and an issuer that publishes one is misconfigured.
func parseKeySet(body []byte) (*keySet, error) {
	var doc struct {
		Keys []josejson.RawMessage `json:"keys"`
	}
	if err := josejson.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode key set: %v", err)
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("key set has no keys")
	}
	if len(doc.Keys) > maxKeys {
		return nil, fmt.Errorf("key set has %d keys, more than %d", len(doc.Keys), maxKeys)
	}
	ks := &keySet{}
	var skipped []string
	for i, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		switch {
		case k.Use != "" && k.Use != "sig":
			skipped = append(skipped, fmt.Sprintf("key %d (%q): use %q", i, k.KeyID, k.Use))
		case !k.IsPublic():
			skipped = append(skipped, fmt.Sprintf("key %d (%q): not a public key", i, k.KeyID))
		case !k.Valid():
			skipped = append(skipped, fmt.Sprintf("key %d (%q): invalid", i, k.KeyID))
		default:
			ks.keys = append(ks.keys, k)
		}
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("key set has no usable signing key: %s", strings.Join(skipped, "; "))
	}
	return ks, nil
}

// FetchKeys fetches the key set now, unless it was fetched less than
// Config.MinRefreshInterval ago. Verify fetches it when needed; the gateway
// may call FetchKeys at startup to report a wrong JWKS URL early. Errors
// match ErrKeySetUnavailable, or are ctx's error.
func (v *Verifier) FetchKeys(ctx context.Context) error {
	_, err := v.keys.refresh(ctx, v.keys.cur.Load())
	return err
}
