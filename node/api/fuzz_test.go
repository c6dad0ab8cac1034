package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTxBody checks that the POST /v1/txs body parser never panics,
// reports only ErrBadRequest, and round-trips: the accepted bytes, written
// back in both accepted forms, parse to the same bytes.
func FuzzParseTxBody(f *testing.F) {
	for _, s := range []string{`{"tx":"0xabcd"}`, "0xabcd", " abcd\n", "", "0x", "abc", `{"tx":1}`, `{"tx":"0x"}`, `{}`, `{"tx":"00"}{}`, "\xff\xfe", `{"TX":"0x01"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, err := ParseTxBody(body)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ErrBadRequest.Error()) {
				t.Fatalf("error %v does not start with ErrBadRequest", err)
			}
			return
		}
		if len(raw) == 0 || len(raw) > len(body)/2 {
			t.Fatalf("accepted %d bytes from a %d-byte body", len(raw), len(body))
		}
		for _, form := range [][]byte{[]byte(hex.EncodeToString(raw)), mustJSON(TxSubmission{Tx: raw})} {
			again, err := ParseTxBody(form)
			if err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("round trip of %x via %q = %x, %v", raw, form, again, err)
			}
		}
	})
}

// FuzzParsePathParams checks the hash, address and epoch parsers: no panic,
// and an accepted value formats back to an input that parses the same.
func FuzzParsePathParams(f *testing.F) {
	for _, s := range []string{"0", "01", "18446744073709551615", "18446744073709551616", "-1", "+1", "0x" + strings.Repeat("ab", 32), strings.Repeat("AB", 20), "0X" + strings.Repeat("0", 40), "0x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if h, err := ParseHash(s); err == nil {
			if !strings.EqualFold(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), h.Hex()[2:]) {
				t.Fatalf("ParseHash(%q) = %s", s, h.Hex())
			}
		}
		if a, err := ParseAddress(s); err == nil {
			if again, err := ParseAddress(a.Hex()); err != nil || again != a {
				t.Fatalf("ParseAddress round trip of %q: %s, %v", s, again.Hex(), err)
			}
		}
		if n, err := ParseEpoch(s); err == nil {
			if strconv.FormatUint(n, 10) != s {
				t.Fatalf("ParseEpoch(%q) = %d: not canonical", s, n)
			}
		}
	})
}

// FuzzSSEDecoder checks the client's stream decoder never panics, never
// returns an event larger than its bound, and terminates.
func FuzzSSEDecoder(f *testing.F) {
	for _, s := range []string{"id: 1\nevent: checkpoint\ndata: {}\n\n", ": ping\n\n", "data:x\r\n\r\n", "data\n\n", "retry: 5\n", strings.Repeat("data: a\n", 50) + "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 256
		d := newSSEDecoder(bytes.NewReader(in), max)
		for i := 0; ; i++ {
			ev, err := d.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > max {
				t.Fatalf("event data of %d bytes exceeds bound %d", len(ev.Data), max)
			}
			if i > len(in) {
				t.Fatalf("more events (%d) than input bytes", i)
			}
		}
	})
}

// FuzzRoutes sends arbitrary paths and bodies to the server: every response
// is a well-formed JSON body (or an event stream), and the status is one
// the API documents.
func FuzzRoutes(f *testing.F) {
	f.Add("GET", "/v1/checkpoints/epoch/1", "")
	f.Add("GET", "/v1/checkpoints?cursor=3&limit=2", "")
	f.Add("POST", "/v1/txs", `{"tx":"0x01"}`)
	f.Add("GET", "/v1/accounts/0x00?proof=1", "")
	f.Add("PUT", "/v1/snapshots/0", "x")
	h := NewServer(newFakeBackend(5), Options{})
	allowed := map[int]bool{200: true, 202: true, 400: true, 404: true, 405: true, 413: true}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if method != "GET" && method != "POST" && method != "PUT" {
			method = "GET"
		}
		if !strings.HasPrefix(path, "/") || strings.Contains(path, "/stream") {
			return // the stream is covered by its own tests
		}
		req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == 301 || w.Code == 307 || w.Code == 308 {
			return // the mux cleaning a path ("/a/../b")
		}
		if !allowed[w.Code] {
			t.Fatalf("%s %q = %d %s", method, path, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q = %d with invalid JSON %q", method, path, w.Code, w.Body)
		}
		_, _ = io.Copy(io.Discard, w.Body)
	})
}
