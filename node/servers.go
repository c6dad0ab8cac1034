package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd/node/api"
)

// startServers starts the API and metrics listeners (each optional) and
// returns a function that shuts them down.
func (n *Node) startServers(ctx context.Context, wg *sync.WaitGroup) (func(), error) {
	var servers []*http.Server
	start := func(name, addr string, h http.Handler) error {
		if addr == "" {
			return nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s listen %s: %w", name, addr, err)
		}
		srv := api.NewHTTPServer(addr, h)
		servers = append(servers, srv)
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error(name+" server", "err", err)
			}
		})
		n.log.Info(name+" listening", "addr", ln.Addr().String())
		return nil
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
			_ = s.Close()
		}
	}
	opts := api.DefaultOptions()
	opts.Logger = n.log.With("component", "api")
	opts.UI = uiHandler()
	if err := start("api", n.cfg.API.Listen, api.NewServer(backend{n}, opts)); err != nil {
		stop()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", n.mets.handler())
	// Profiles on the metrics port (loopback unless configured otherwise).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if err := start("metrics", n.cfg.Metrics.Listen, mux); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}
