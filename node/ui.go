package node

import "net/http"

// uiHandler serves the explorer page (issue 6). Until it exists, / answers
// with a short pointer to the API.
func uiHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ledgerd node. API: /v1/status, /v1/checkpoints/latest, /v1/checkpoints, /v1/validators, /v1/snapshots/{epoch}; health: /healthz\n"))
	})
}
