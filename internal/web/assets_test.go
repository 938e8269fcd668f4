package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// embedded returns every embedded file by its path.
func embedded(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("only %d embedded files: %v", len(out), out)
	}
	return out
}

func TestSecurityHeaders(t *testing.T) {
	c, _ := newConsole(t, nil)
	ck := login(t, c)
	h := c.Handler()
	for _, p := range []string{"/", "/ui/login", "/ui/static/app.css", "/ui/static/js/app.js", "/ui/session", "/no/such/page"} {
		t.Run(p, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://admin.test"+p, nil)
			r.AddCookie(ck)
			res := do(h, r)
			hd := res.Header
			csp := hd.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("GET %s: Content-Security-Policy %q lacks %q", p, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "http:") || strings.Contains(csp, "https:") || strings.Contains(csp, "*") {
				t.Errorf("GET %s: Content-Security-Policy %q allows more than the console itself", p, csp)
			}
			for k, want := range map[string]string{
				"X-Frame-Options":        "DENY",
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := hd.Get(k); got != want {
					t.Errorf("GET %s: %s = %q; want %q", p, k, got, want)
				}
			}
		})
	}
}

func TestAssetsServed(t *testing.T) {
	c, _ := newConsole(t, nil)
	h := c.Handler()
	for p, body := range embedded(t) {
		rel, ok := strings.CutPrefix(p, "static/")
		if !ok || rel == "index.html" {
			continue
		}
		res := do(h, httptest.NewRequest("GET", "http://admin.test/ui/static/"+rel, nil))
		got, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || string(got) != body {
			t.Errorf("GET /ui/static/%s = %d, %d bytes; want 200 and the file (%d bytes)", rel, res.StatusCode, len(got), len(body))
		}
		want := map[string]string{".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}[path.Ext(rel)]
		if want != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), want) {
			t.Errorf("GET /ui/static/%s: Content-Type %q; want %s", rel, res.Header.Get("Content-Type"), want)
		}
		// Revalidation is answered from the ETag.
		etag := res.Header.Get("ETag")
		r := httptest.NewRequest("GET", "http://admin.test/ui/static/"+rel, nil)
		r.Header.Set("If-None-Match", etag)
		if res := do(h, r); etag == "" || res.StatusCode != http.StatusNotModified {
			t.Errorf("GET /ui/static/%s with If-None-Match %q = %d; want 304", rel, etag, res.StatusCode)
		}
	}
	for _, p := range []string{"/ui/static/", "/ui/static/nope.js", "/ui/static/../templates/login.html", "/ui/static/index.html", "/favicon.ico"} {
		// The mux answers a path with dot segments with a redirect to its
		// clean form; nothing is served from outside static/ either way.
		res := do(h, httptest.NewRequest("GET", "http://admin.test"+p, nil))
		if loc := res.Header.Get("Location"); res.StatusCode == http.StatusTemporaryRedirect || res.StatusCode == http.StatusMovedPermanently {
			res = do(h, httptest.NewRequest("GET", "http://admin.test"+loc, nil))
		}
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", p, res.StatusCode)
		}
	}
}

// TestModulesResolve checks that every module the app imports is embedded,
// so a renamed file cannot break the console silently.
func TestModulesResolve(t *testing.T) {
	all := embedded(t)
	importRe := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|import\s+'([^']+)'`)
	srcRe := regexp.MustCompile(`(?:src|href)="(/ui/static/[^"]+)"`)
	seen := 0
	for p, body := range all {
		switch path.Ext(p) {
		case ".js":
			for _, m := range importRe.FindAllStringSubmatch(body, -1) {
				spec := m[1] + m[2]
				if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
					t.Errorf("%s imports %q: only relative imports of embedded modules are allowed", p, spec)
					continue
				}
				target := path.Join(path.Dir(p), spec)
				if _, ok := all[target]; !ok {
					t.Errorf("%s imports %q: %s is not embedded", p, spec, target)
				}
				seen++
			}
		case ".html":
			for _, m := range srcRe.FindAllStringSubmatch(body, -1) {
				target := "static/" + strings.TrimPrefix(m[1], "/ui/static/")
				if _, ok := all[target]; !ok {
					t.Errorf("%s refers to %s, which is not embedded", p, m[1])
				}
				seen++
			}
		}
	}
	if seen < 10 {
		t.Errorf("found only %d imports and references; the patterns no longer match the sources", seen)
	}
}

// TestNoExternalURLs scans every embedded file for addresses outside the
// gateway: the console must work with no network beyond it.
func TestNoExternalURLs(t *testing.T) {
	// XML namespace names are identifiers, never fetched.
	namespaces := map[string]bool{"http://www.w3.org/2000/svg": true, "http://www.w3.org/1999/xlink": true}
	urlRe := regexp.MustCompile(`(?i)\b(?:https?|wss?|ftp)://[^\s"'<>)` + "`" + `]*`)
	protoRelRe := regexp.MustCompile(`(?i)(?:src|href|action|url)\s*[=(]\s*["']?//`)
	importRe := regexp.MustCompile(`(?i)@import|@font-face`)
	for p, body := range embedded(t) {
		for _, u := range urlRe.FindAllString(body, -1) {
			if !namespaces[u] {
				t.Errorf("%s refers to the external address %s", p, u)
			}
		}
		if m := protoRelRe.FindString(body); m != "" {
			t.Errorf("%s has a protocol-relative reference %q", p, m)
		}
		if path.Ext(p) == ".css" {
			if m := importRe.FindString(body); m != "" {
				t.Errorf("%s uses %s: styles and fonts must be the console's own", p, m)
			}
		}
	}
}

// TestNoInlineCode checks the pages against what the Content-Security-Policy
// forbids: inline scripts, inline event handlers and style attributes, and
// the markup-from-string sinks Trusted Types refuse.
func TestNoInlineCode(t *testing.T) {
	inlineScript := regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]`)
	scriptNoSrc := regexp.MustCompile(`(?is)<script\b([^>]*)>`)
	handlerAttr := regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`)
	styleAttr := regexp.MustCompile(`(?i)<[a-z][^>]*\sstyle\s*=`)
	styleTag := regexp.MustCompile(`(?i)<style\b`)
	sinks := regexp.MustCompile(`\.(?:innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*'(?:style|on[a-z]+)'|javascript:`)
	for p, body := range embedded(t) {
		switch path.Ext(p) {
		case ".html":
			if m := inlineScript.FindString(body); m != "" {
				t.Errorf("%s has an inline script: %q", p, m)
			}
			for _, m := range scriptNoSrc.FindAllStringSubmatch(body, -1) {
				if !strings.Contains(m[1], "src=") {
					t.Errorf("%s has a <script> without src: %q", p, m[0])
				}
			}
			for _, re := range []*regexp.Regexp{handlerAttr, styleAttr, styleTag} {
				if m := re.FindString(body); m != "" {
					t.Errorf("%s has inline code the policy forbids: %q", p, m)
				}
			}
		case ".js":
			if m := sinks.FindString(body); m != "" {
				t.Errorf("%s uses %q, which the Content-Security-Policy forbids", p, m)
			}
		}
	}
}
