package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// files holds the console: static/ is served as is under /ui/static/ (and
// static/index.html at /), templates/ are rendered by the server.
//
//go:embed static templates
var files embed.FS

// An asset is one embedded file, ready to serve.
type asset struct {
	data  []byte
	ctype string
	etag  string
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

// loadAssets reads the files under static/, keyed by their path below it.
func loadAssets() map[string]*asset {
	out := make(map[string]*asset)
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(data)
		out[strings.TrimPrefix(p, "static/")] = &asset{data: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: embedded assets: " + err.Error()) // the binary was built without them
	}
	return out
}

// serveAsset serves an embedded file. Browsers revalidate each use (the
// names carry no version), which the ETag makes cheap.
func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	a := c.assets[r.PathValue("path")]
	if a == nil || r.PathValue("path") == "index.html" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}
