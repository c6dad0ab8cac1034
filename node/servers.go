package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd/node/api"
)

// serverStopWait bounds a server's graceful shutdown and the wait for its
// in-flight requests.
const serverStopWait = 3 * time.Second

// apiServer is the node's one API listener. With libp2p it opens before
// the start-up state sync (openCtx), so /v1/status reports the sync's
// progress; until the event loop publishes its first view the backend
// answers every other route with 503 not_synced (backend.ready). The same
// handler then serves the full API: nothing is swapped, the port is opened
// once.
type apiServer struct {
	srv  *http.Server
	addr string        // the bound address (the config may say port 0)
	done chan struct{} // closed when Serve returns

	mu       sync.Mutex
	inflight int           // requests being handled
	closing  bool          // stop started: new requests are refused
	idle     chan struct{} // closed when closing and inflight == 0
	once     sync.Once
}

// startAPI opens the API listener, unless it is open or not configured.
func (n *Node) startAPI() error {
	if n.apiSrv != nil || n.cfg.API.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", n.cfg.API.Listen, err)
	}
	opts := api.DefaultOptions()
	opts.Logger = n.log.With("component", "api")
	opts.UI = uiHandler()
	a := &apiServer{addr: ln.Addr().String(), done: make(chan struct{}), idle: make(chan struct{})}
	h := api.NewServer(backend{n}, opts)
	a.srv = api.NewHTTPServer(n.cfg.API.Listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.enter() {
			writeStopping(w)
			return
		}
		defer a.leave()
		h.ServeHTTP(w, r)
	}))
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api server", "err", err)
		}
	}()
	n.apiSrv = a
	n.log.Info("api listening", "addr", ln.Addr().String())
	return nil
}

// stopAPI shuts the API listener down and waits (bounded) for the requests
// in flight, so none reads the store after it is closed. Idempotent.
func (n *Node) stopAPI() {
	if a := n.apiSrv; a != nil {
		a.stop()
	}
}

func (a *apiServer) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return false
	}
	a.inflight++
	return true
}

func (a *apiServer) leave() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight--
	if a.closing && a.inflight == 0 {
		close(a.idle)
	}
}

func (a *apiServer) stop() {
	a.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), serverStopWait)
		defer cancel()
		_ = a.srv.Shutdown(ctx) // cancels request contexts (streams, exports)
		_ = a.srv.Close()
		<-a.done
		a.mu.Lock()
		a.closing = true
		if a.inflight == 0 {
			close(a.idle)
		}
		a.mu.Unlock()
		select {
		case <-a.idle:
		case <-time.After(serverStopWait):
		}
	})
}

// writeStopping answers a request that arrives while the server stops.
func writeStopping(w http.ResponseWriter) {
	body, _ := json.Marshal(api.ErrorBody{Error: api.Error{Code: api.CodeNotSynced, Message: "node is stopping"}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(append(body, '\n'))
}

// startServers starts the API listener (unless the start-up state sync
// already did) and the metrics listener (each optional) and returns a
// function that shuts both down.
func (n *Node) startServers(ctx context.Context, wg *sync.WaitGroup) (func(), error) {
	var servers []*http.Server
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), serverStopWait)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
			_ = s.Close()
		}
		n.stopAPI()
	}
	if err := n.startAPI(); err != nil {
		return nil, err
	}
	if addr := n.cfg.Metrics.Listen; addr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", n.mets.handler())
		// Profiles on the metrics port (loopback unless configured otherwise).
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			stop()
			return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
		}
		srv := api.NewHTTPServer(addr, mux)
		servers = append(servers, srv)
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("metrics server", "err", err)
			}
		})
		n.log.Info("metrics listening", "addr", ln.Addr().String())
	}
	return stop, nil
}
