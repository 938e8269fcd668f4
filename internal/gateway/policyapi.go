package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/source"
)

// maxPolicyBytes bounds a policy document sent to the admin API.
const maxPolicyBytes = 1 << 20

// Problem is one problem in a policy document, at its position.
type Problem struct {
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

// PolicyView is a server's policy file as the console edits it.
type PolicyView struct {
	Server string `json:"server"`
	Path   string `json:"path"`
	Text   string `json:"text"`
	// Version is the SHA-256 of the file's bytes: a save names the version
	// it started from, so that an edit made elsewhere is not overwritten.
	Version string `json:"version"`
}

func versionOf(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// problemsOf lists the problems policy.Parse found.
func problemsOf(err error) []Problem {
	var list source.Errors
	if !errors.As(err, &list) {
		return []Problem{{Message: err.Error()}}
	}
	out := make([]Problem, 0, len(list))
	for _, e := range list {
		out = append(out, Problem{Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
	}
	return out
}

// CheckPolicy parses text as a policy document and returns its problems.
func CheckPolicy(name string, text []byte) []Problem {
	if _, err := policy.Parse(name, text); err != nil {
		return problemsOf(err)
	}
	return nil
}

// ErrStaleVersion is returned by SavePolicy when the file changed since the
// version the edit started from.
var ErrStaleVersion = errors.New("the policy file changed since it was read")

// SavePolicy replaces a server's policy file with text, if the file is
// still at version, then reloads it. The file is replaced atomically and
// its previous contents kept in FILE.prev. Invalid text writes nothing and
// returns a source.Errors; a stale version returns ErrStaleVersion.
func (g *Gateway) SavePolicy(server, version string, text []byte) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sc := g.serverConf(server)
	if sc == nil {
		return "", fmt.Errorf("no server %q", server)
	}
	if sc.Policy == "" {
		return "", fmt.Errorf("server %q has no policy file in the config", server)
	}
	if _, err := policy.Parse(filepath.Base(sc.Policy), text); err != nil {
		return "", err
	}
	cur, err := os.ReadFile(sc.Policy)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read policy: %w", err)
	}
	if g.pool != nil {
		// The shared copy is the one to be current; the file follows it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if v, err := g.saveShared(ctx, server, version, text, "admin API"); err != nil {
			return v, err
		}
	} else if versionOf(cur) != version {
		return versionOf(cur), ErrStaleVersion
	}
	if err := writeAtomic(sc.Policy, text, cur); err != nil {
		if g.pool == nil {
			return "", err
		}
		// The shared copy is saved and every replica applies it; a
		// read-only file (a Kubernetes ConfigMap) just stays behind.
		g.logger.Warn("policy saved to PostgreSQL but its file could not be written", "server", server, "file", sc.Policy, "error", err)
	}
	if err := g.reload(true); err != nil {
		return "", fmt.Errorf("policy saved but not applied: %w", err)
	}
	g.logger.Info("policy saved through the admin API", "server", server, "file", sc.Policy)
	return versionOf(text), nil
}

// writeAtomic replaces path with data, keeping prev in path.prev, so that a
// reader sees the old file or the new one, never a part.
func writeAtomic(path string, data, prev []byte) error {
	dir := filepath.Dir(path)
	if prev != nil {
		if err := os.WriteFile(path+".prev", prev, 0o644); err != nil {
			return fmt.Errorf("keep previous policy: %w", err)
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write policy: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// serverConf returns the config of a served server, or nil.
func (g *Gateway) serverConf(name string) *config.Server {
	for _, sc := range g.cfg.Load().Servers {
		if sc.Name == name && !sc.Disabled {
			return sc
		}
	}
	return nil
}

func (g *Gateway) policyRoutes(api *http.ServeMux) {
	api.HandleFunc("GET /api/v1/servers/{name}/policy", func(w http.ResponseWriter, r *http.Request) {
		sc := g.serverConf(r.PathValue("name"))
		switch {
		case sc == nil:
			writeError(w, http.StatusNotFound, "no server %q", r.PathValue("name"))
			return
		case sc.Policy == "":
			writeError(w, http.StatusNotFound, "server %q has no policy file", sc.Name)
			return
		}
		if g.pool != nil {
			text, version, err := g.sharedPolicy(r.Context(), sc.Name)
			if err != nil {
				writeError(w, http.StatusInternalServerError, "read shared policy: %v", err)
				return
			}
			writeJSON(w, http.StatusOK, PolicyView{Server: sc.Name, Path: sc.Policy, Text: text, Version: version})
			return
		}
		data, err := os.ReadFile(sc.Policy)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "read policy: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, PolicyView{Server: sc.Name, Path: sc.Policy, Text: string(data), Version: versionOf(data)})
	})
	api.HandleFunc("POST /api/v1/policy/check", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Text string `json:"text"`
		}
		if !decodeBody(w, r, &req, maxPolicyBytes) {
			return
		}
		problems := CheckPolicy("policy.json", []byte(req.Text))
		writeJSON(w, http.StatusOK, map[string]any{"ok": len(problems) == 0, "problems": orEmpty(problems)})
	})
	api.HandleFunc("PUT /api/v1/servers/{name}/policy", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Text    string `json:"text"`
			Version string `json:"version"`
		}
		if !decodeBody(w, r, &req, maxPolicyBytes) {
			return
		}
		name := r.PathValue("name")
		if g.serverConf(name) == nil {
			writeError(w, http.StatusNotFound, "no server %q", name)
			return
		}
		v, err := g.SavePolicy(name, req.Version, []byte(req.Text))
		var list source.Errors
		switch {
		case errors.Is(err, ErrStaleVersion):
			writeJSON(w, http.StatusConflict, map[string]any{"error": "the policy was changed elsewhere since you opened it; reload it and apply your edit again", "version": v})
		case errors.As(err, &list):
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "the policy has problems; nothing was saved", "problems": problemsOf(err)})
		case err != nil:
			writeError(w, http.StatusInternalServerError, "%v", err)
		default:
			writeJSON(w, http.StatusOK, map[string]string{"version": v})
		}
	})
}

// decodeBody decodes a JSON request body of at most max bytes into v,
// answering 400 itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, max int64) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad request: %v", err)
		return false
	}
	return true
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
