package statesync

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
)

// Catch-up tuning.
const (
	// catchUpInterval is how often catch-up looks at the node's progress.
	catchUpInterval = 500 * time.Millisecond
	// catchUpAfter is how long executed epochs may stay not final before
	// catch-up fetches their certificates or votes.
	catchUpAfter = time.Second
	// catchUpEpochs bounds the epochs fetched per round.
	catchUpEpochs = 8
)

// CatchUp fetches certificates, or failing those votes, for executed
// epochs that have not become final for a while: the votes were gossiped
// while this validator was down or were lost, and nobody re-gossips them.
// The fetched votes go to out, to be stepped like gossiped ones (verified
// there). progress reports the executed head and the last final epoch; it
// returns ok false while the node is not running yet. CatchUp returns when
// ctx ends.
func (s *Service) CatchUp(ctx context.Context, progress func() (head, final uint64, ok bool), out chan<- []byte) {
	t := time.NewTicker(catchUpInterval)
	defer t.Stop()
	var lastFinal uint64
	since := s.now()
	send := func(vote []byte) bool {
		select {
		case out <- vote:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		head, final, ok := progress()
		if !ok {
			continue
		}
		if final != lastFinal {
			lastFinal, since = final, s.now()
			continue
		}
		if head <= final || s.now().Sub(since) < catchUpAfter {
			continue
		}
		for ep := final + 1; ep <= min(head, final+catchUpEpochs); ep++ {
			cert, err := s.fetchCertificate(ctx, ep)
			if err != nil {
				// Nobody has it final: the votes themselves were lost (a
				// healed partition). Collect them from the peers.
				s.log().Debug("certificate fetch", "epoch", ep, "err", err)
				for _, vote := range s.fetchVotes(ctx, ep) {
					if !send(vote) {
						return
					}
				}
				break
			}
			for _, vote := range cert.Votes {
				if !send(vote.Encode()) {
					return
				}
			}
		}
		since = s.now()
	}
}

// fetchCertificate asks the connected validators, in turn, for epoch's
// certificate.
func (s *Service) fetchCertificate(ctx context.Context, epoch uint64) (checkpoint.Certificate, error) {
	payload := binary.BigEndian.AppendUint64(nil, epoch)
	var last error = errors.New("no connected validator")
	for _, k := range s.Net.Validators() {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		raw, err := s.Net.Request(rctx, k, KindCertificate, payload)
		cancel()
		if err != nil {
			last = err
			continue
		}
		cert, err := checkpoint.DecodeCertificate(raw)
		if err != nil || cert.Epoch != epoch {
			s.log().Warn("peer served a malformed certificate", "validator", k, "epoch", epoch, "err", err)
			last = errors.New("malformed certificate")
			continue
		}
		return cert, nil
	}
	return checkpoint.Certificate{}, last
}

// fetchVotes collects the votes every connected validator holds for epoch.
func (s *Service) fetchVotes(ctx context.Context, epoch uint64) [][]byte {
	payload := binary.BigEndian.AppendUint64(nil, epoch)
	var out [][]byte
	for _, k := range s.Net.Validators() {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		raw, err := s.Net.Request(rctx, k, KindVotes, payload)
		cancel()
		if err != nil {
			continue
		}
		list, err := stream.DecodeList(raw, maxVotesResponse, 1<<16)
		if err != nil {
			continue
		}
		out = append(out, list...)
	}
	return out
}
