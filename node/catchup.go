package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/node/store"
	"github.com/ledgerd/ledgerd/p2p"
)

// kindCertificate is the sync-protocol request for a final epoch's
// certificate: payload = 8-byte big-endian epoch, response = the encoded
// certificate.
const kindCertificate = p2p.FirstUserKind

// kindVotes asks for every vote a peer holds for an epoch that is not final
// yet anywhere: payload = 8-byte epoch, response = uvarint-length-prefixed
// encoded votes. Gossip cannot heal a vote lost in a partition: re-sent
// bytes have the same message ID, which gossipsub's seen cache drops.
const kindVotes = p2p.FirstUserKind + 3

// maxVotesResponse bounds a kindVotes answer (one vote per validator).
const maxVotesResponse = checkpoint.MaxValidators

// certFetcher is the optional network capability to fetch a certificate
// from peers (libp2p provides it; the in-process test hub does not).
type certFetcher interface {
	FetchCertificate(ctx context.Context, epoch uint64) ([]byte, error)
}

// registerServing serves this node's certificates and votes to peers.
func (n *Node) registerServing(net *p2p.Network) error {
	err := net.RegisterHandler(kindVotes, func(_ context.Context, _ p2pPeer, payload []byte) ([]byte, error) {
		if len(payload) != 8 {
			return nil, errors.New("votes request: want an 8-byte epoch")
		}
		votes, err := n.st.Votes(binary.BigEndian.Uint64(payload))
		if err != nil {
			return nil, err
		}
		var out []byte
		for _, raw := range votes {
			out = binary.AppendUvarint(out, uint64(len(raw)))
			out = append(out, raw...)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	return net.RegisterHandler(kindCertificate, func(_ context.Context, _ p2pPeer, payload []byte) ([]byte, error) {
		if len(payload) != 8 {
			return nil, errors.New("certificate request: want an 8-byte epoch")
		}
		ep := binary.BigEndian.Uint64(payload)
		raw, err := n.st.Certificate(ep)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no certificate for epoch %d", ep)
		}
		return raw, err
	})
}

// FetchCertificate asks connected validators, in turn, for epoch's certificate.
func (l *libp2pNet) FetchCertificate(ctx context.Context, epoch uint64) ([]byte, error) {
	payload := binary.BigEndian.AppendUint64(nil, epoch)
	var last error = errors.New("no connected validator")
	for _, p := range l.Network.Peers() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		raw, err := l.Request(rctx, p, kindCertificate, payload)
		cancel()
		if err == nil {
			return raw, nil
		}
		last = err
	}
	return nil, last
}

// FetchVotes collects the votes every connected validator holds for epoch.
func (l *libp2pNet) FetchVotes(ctx context.Context, epoch uint64) [][]byte {
	payload := binary.BigEndian.AppendUint64(nil, epoch)
	var out [][]byte
	for _, p := range l.Network.Peers() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		raw, err := l.Request(rctx, p, kindVotes, payload)
		cancel()
		if err != nil {
			continue
		}
		for len(raw) > 0 && len(out) < maxVotesResponse {
			n, k := binary.Uvarint(raw)
			if k <= 0 || uint64(len(raw)-k) < n {
				break
			}
			out = append(out, raw[k:k+int(n)])
			raw = raw[k+int(n):]
		}
	}
	return out
}

// runCatchUp fetches certificates when this node has executed epochs that
// it has not seen become final for a while: the votes for them were gossiped
// while it was down or lost, and peers only re-gossip recent votes. The
// certificate's votes go to the loop like gossiped ones (verified there).
func (n *Node) runCatchUp(ctx context.Context, wg *sync.WaitGroup, out chan<- []byte) {
	f, ok := n.net.(interface {
		certFetcher
		FetchVotes(ctx context.Context, epoch uint64) [][]byte
	})
	if !ok {
		return
	}
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var lastFinal uint64
		since := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			v := n.view.Load()
			if v == nil {
				continue
			}
			if v.lastFinal != lastFinal {
				lastFinal, since = v.lastFinal, time.Now()
				continue
			}
			if v.head.Epoch <= v.lastFinal || time.Since(since) < time.Second {
				continue
			}
			for ep := v.lastFinal + 1; ep <= min(v.head.Epoch, v.lastFinal+8); ep++ {
				raw, err := f.FetchCertificate(ctx, ep)
				if err != nil {
					// Nobody has it final: the votes themselves were lost
					// (e.g. a healed partition). Collect them from peers.
					n.log.Debug("certificate fetch", "epoch", ep, "err", err)
					for _, vote := range f.FetchVotes(ctx, ep) {
						select {
						case out <- vote:
						case <-ctx.Done():
							return
						}
					}
					break
				}
				cert, err := checkpoint.DecodeCertificate(raw)
				if err != nil || cert.Epoch != ep {
					n.log.Warn("peer served a malformed certificate", "epoch", ep, "err", err)
					break
				}
				for _, vote := range cert.Votes {
					select {
					case out <- vote.Encode():
					case <-ctx.Done():
						return
					}
				}
			}
			since = time.Now()
		}
	})
}
