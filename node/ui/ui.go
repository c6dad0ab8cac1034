package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy allows only the page's own files and same-origin API
// calls: no inline script or style, no external hosts. The favicon is an
// empty data: URL so browsers do not ask for /favicon.ico.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// contentTypes maps the extensions the page uses to their media types;
// files with other extensions are not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// Handler returns the handler serving the explorer's static files: / is
// index.html, /app.js and /app.css its script and style. Any other path is
// 404 and any method other than GET or HEAD is 405. Responses carry a strict
// Content-Security-Policy, nosniff and an ETag (clients revalidate with
// If-None-Match; the files change only with the binary).
func Handler() http.Handler {
	files, err := load(staticFS, "static")
	if err != nil {
		// The files are embedded at build time; failing here is a build bug.
		panic(fmt.Sprintf("ui: embedded files: %v", err))
	}
	return handler{files: files}
}

// load reads every file under dir of fsys into a map keyed by its URL path.
func load(fsys fs.FS, dir string) (map[string]file, error) {
	files := map[string]file{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("%s: no content type for extension %q", p, path.Ext(p))
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		files["/"+strings.TrimPrefix(p, dir+"/")] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := files["/index.html"]; !ok {
		return nil, fmt.Errorf("%s/index.html missing", dir)
	}
	return files, nil
}

type handler struct {
	files map[string]file
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path
	if name == "/" {
		name = "/index.html"
	}
	f, ok := h.files[name]
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	if !ok {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		_, _ = fmt.Fprintf(w, "404 not found: %q is not a file of the explorer (try /)\n", clip(r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = fmt.Fprintf(w, "405 method %s not allowed (allowed: GET, HEAD)\n", clip(r.Method))
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", f.etag)
	// ServeContent answers If-None-Match, Range and HEAD; a zero modtime
	// leaves Last-Modified out.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// clip bounds request text echoed in error bodies.
func clip(s string) string {
	const maxLen = 100
	if len(s) > maxLen {
		return s[:maxLen] + "…"
	}
	return s
}
