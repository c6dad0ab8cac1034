package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ledgerd/ledgerd/node/api"
)

// TestHandlerServesFiles checks each embedded file is served with its media
// type and security headers, that / is index.html, and that the page refers
// only to files the handler serves.
func TestHandlerServesFiles(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="app.js" defer></script>`},
		{"/index.html", "text/html; charset=utf-8", `<link rel="stylesheet" href="app.css">`},
		{"/app.js", "text/javascript; charset=utf-8", "new EventSource("},
		{"/app.css", "text/css; charset=utf-8", "svg .cut"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d; want 200", tt.path, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("GET %s Content-Type = %q; want %q", tt.path, got, tt.contentType)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s X-Content-Type-Options = %q; want nosniff", tt.path, got)
			}
			if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
				t.Errorf("GET %s Content-Security-Policy = %q; want script-src 'self'", tt.path, got)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("GET %s body lacks %q", tt.path, tt.contains)
			}
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/nope.js", http.StatusNotFound},
		{"GET", "/favicon.ico", http.StatusNotFound},
		{"GET", "/static/app.js", http.StatusNotFound},
		{"GET", "/app.js/", http.StatusNotFound},
		{"GET", "/../ui.go", http.StatusNotFound},
		{"GET", "/%2e%2e/ui.go", http.StatusNotFound},
		{"POST", "/", http.StatusMethodNotAllowed},
		{"DELETE", "/app.js", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d (%s); want %d", tt.method, tt.path, resp.StatusCode, body, tt.want)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
			t.Errorf("%s %s Content-Type = %q; want text/plain", tt.method, tt.path, got)
		}
	}
}

// TestHandlerConditionalAndHead checks HEAD has no body and a matching
// If-None-Match answers 304.
func TestHandlerConditionalAndHead(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app.js", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" {
		t.Fatalf("GET /app.js = %d, ETag %q; want 200 with an ETag", rec.Code, etag)
	}
	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("GET /app.js If-None-Match = %d; want 304", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD / = %d, %d body bytes, %q; want 200, 0, text/html", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Type"))
	}
}

// TestWithAPIServer checks the handler mounted as api.Options.UI: the page
// at /, the API under /v1/ unaffected, unknown page paths 404.
func TestWithAPIServer(t *testing.T) {
	srv := httptest.NewServer(api.NewServer(newFakeBackend(), api.Options{UI: Handler()}))
	defer srv.Close()
	for path, want := range map[string]string{
		"/":              "text/html; charset=utf-8",
		"/app.css":       "text/css; charset=utf-8",
		"/v1/status":     "application/json",
		"/v1/validators": "application/json",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want {
			t.Errorf("GET %s = %d %q; want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
	}
	resp, err := http.Get(srv.URL + "/explorer/missing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /explorer/missing = %d; want 404", resp.StatusCode)
	}
}

func TestLoadRejectsBadTrees(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"unknown extension": {"static/index.html": {Data: []byte("x")}, "static/x.exe": {Data: []byte("x")}},
		"no index":          {"static/app.js": {Data: []byte("x")}},
	}
	for name, fsys := range tests {
		if _, err := load(fsys, "static"); err == nil {
			t.Errorf("load(%s) = nil error; want an error", name)
		}
	}
	files, err := load(fstest.MapFS{"static/index.html": {Data: []byte("<p>")}, "static/a/b.css": {Data: []byte("p{}")}}, "static")
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := files["/a/b.css"]; !ok || f.contentType != "text/css; charset=utf-8" {
		t.Errorf("load: /a/b.css = %+v, %v; want text/css", f, ok)
	}
}
