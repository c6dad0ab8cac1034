package statesync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/store"
	"github.com/ledgerd/ledgerd/p2p"
)

// Bounds of one answer.
const (
	maxCheckpointsPerResponse = 64
	maxAccountsPerResponse    = 8192
	// maxVotesResponse bounds a KindVotes answer (one vote per validator).
	maxVotesResponse = checkpoint.MaxValidators
	// maxRoundsResponse bounds a KindRounds answer.
	maxRoundsResponse = 1 << 14
)

// Service is the sync protocol of one validator: it serves its store to the
// others and fetches from them. Set the fields, then call Serve once.
type Service struct {
	G     *ledger.Genesis
	Self  uint32
	Store *store.Store
	Net   Network
	Log   *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// LastFinal, if set, is the validator's last final epoch as the running
	// node knows it; before the node runs, the store is read instead.
	LastFinal func() uint64
	// Progress is the start-up state sync's progress, for the API.
	Progress Progress
	// ProbeWait bounds how long the start-up probe waits for the other
	// validators' answers; 0 means 10 s for an empty store (a new
	// validator must not start a chain of its own) and 3 s otherwise.
	ProbeWait time.Duration
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Serve registers the handlers of certificates, votes, checkpoints and
// account chunks on the network.
func (s *Service) Serve() error {
	epochPayload := func(what string, payload []byte) (uint64, error) {
		if len(payload) != 8 {
			return 0, fmt.Errorf("%s request: want an 8-byte epoch", what)
		}
		return binary.BigEndian.Uint64(payload), nil
	}
	handlers := map[byte]Handler{
		KindCertificate: func(_ context.Context, _ int, payload []byte) ([]byte, error) {
			ep, err := epochPayload("certificate", payload)
			if err != nil {
				return nil, err
			}
			raw, err := s.Store.Certificate(ep)
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("no certificate for epoch %d", ep)
			}
			return raw, err
		},
		KindVotes: func(_ context.Context, _ int, payload []byte) ([]byte, error) {
			ep, err := epochPayload("votes", payload)
			if err != nil {
				return nil, err
			}
			votes, err := s.Store.Votes(ep)
			if err != nil {
				return nil, err
			}
			list := make([][]byte, 0, len(votes))
			for _, raw := range votes {
				list = append(list, raw)
			}
			return stream.EncodeList(list), nil
		},
		KindRounds: func(_ context.Context, _ int, payload []byte) ([]byte, error) {
			ep, err := epochPayload("rounds", payload)
			if err != nil {
				return nil, err
			}
			msgs, err := s.Store.Rounds(ep)
			if err != nil {
				return nil, err
			}
			return stream.EncodeList(msgs), nil
		},
		KindCheckpoints: func(_ context.Context, _ int, payload []byte) ([]byte, error) {
			ep, err := epochPayload("checkpoints", payload)
			if err != nil {
				return nil, err
			}
			return s.serveCheckpoints(ep)
		},
		KindAccounts: func(ctx context.Context, _ int, payload []byte) ([]byte, error) {
			if len(payload) != 28 {
				return nil, errors.New("accounts request: want epoch (8) and start address (20)")
			}
			return s.serveAccounts(ctx, binary.BigEndian.Uint64(payload), ledger.Address(payload[8:]))
		},
	}
	for _, kind := range []byte{KindCertificate, KindCheckpoints, KindAccounts, KindVotes, KindRounds} {
		if err := s.Net.Handle(kind, handlers[kind]); err != nil {
			return err
		}
	}
	return nil
}

// servedFinal is the last final epoch this validator serves.
func (s *Service) servedFinal() (uint64, error) {
	if s.LastFinal != nil {
		if f := s.LastFinal(); f > 0 {
			return f, nil
		}
	}
	return LatestCertified(s.Store)
}

func (s *Service) serveCheckpoints(from uint64) ([]byte, error) {
	final, err := s.servedFinal()
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint64(nil, final)
	out = append(out, 0, 0)
	if from == 0 {
		from = final
	}
	count := 0
	for ep := from; ep >= 1 && ep <= final && count < maxCheckpointsPerResponse; ep++ {
		rawH, err := s.Store.Checkpoint(ep)
		if err != nil {
			break
		}
		rawC, err := s.Store.Certificate(ep)
		if err != nil {
			break
		}
		if len(out)+len(rawH)+len(rawC)+8 > p2p.MaxResponseBytes/2 {
			break
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(rawH)))
		out = append(out, rawH...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(rawC)))
		out = append(out, rawC...)
		count++
	}
	binary.BigEndian.PutUint16(out[8:10], uint16(count))
	return out, nil
}

func (s *Service) serveAccounts(ctx context.Context, epoch uint64, start ledger.Address) ([]byte, error) {
	if _, err := s.Store.Certificate(epoch); err != nil {
		return nil, fmt.Errorf("epoch %d is not final here", epoch)
	}
	c, err := certifiedFromStore(s.Store, epoch)
	if err != nil {
		return nil, err
	}
	state, err := s.G.OpenState(s.Store, c.Header.StateRoot)
	if err != nil {
		return nil, err
	}
	out := []byte{0, 0, 0}
	count := 0
	more := false
	var rec [1 + accountRecordBytes]byte
	err = state.ForEachAccount(start, func(a ledger.Address, acct ledger.Account) bool {
		if count == maxAccountsPerResponse || ctx.Err() != nil {
			more = true
			return false
		}
		encodeAccountRecord(rec[:], a, acct)
		out = append(out, rec[1:]...)
		count++
		return true
	})
	if err != nil {
		return nil, err
	}
	if more {
		out[0] = 1
	}
	binary.BigEndian.PutUint16(out[1:3], uint16(count))
	return out, nil
}

// decodeCheckpointsResponse parses a KindCheckpoints answer.
func decodeCheckpointsResponse(b []byte) (uint64, []checkpoint.Certified, error) {
	if len(b) < 10 {
		return 0, nil, errors.New("checkpoints response: short")
	}
	final := binary.BigEndian.Uint64(b)
	count := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	next := func() ([]byte, error) {
		if len(b) < 4 {
			return nil, errors.New("checkpoints response: truncated")
		}
		l := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(l) {
			return nil, errors.New("checkpoints response: truncated record")
		}
		r := b[4 : 4+l]
		b = b[4+l:]
		return r, nil
	}
	out := make([]checkpoint.Certified, 0, min(count, maxCheckpointsPerResponse))
	for range count {
		rawH, err := next()
		if err != nil {
			return 0, nil, err
		}
		rawC, err := next()
		if err != nil {
			return 0, nil, err
		}
		c, err := decodeCertified(rawH, rawC)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, c)
	}
	if len(b) != 0 {
		return 0, nil, errors.New("checkpoints response: trailing bytes")
	}
	return final, out, nil
}

// Progress publishes the start-up state sync's progress for the API and
// the log (copy on write: the sync is the only writer, readers load a
// pointer).
type Progress struct{ p atomic.Pointer[api.StateSync] }

// Get returns the progress of the running or last state sync.
func (p *Progress) Get() (api.StateSync, bool) {
	if v := p.p.Load(); v != nil {
		return *v, true
	}
	return api.StateSync{}, false
}

// Update applies f to a copy of the progress and publishes it.
func (p *Progress) Update(f func(*api.StateSync)) {
	var cur api.StateSync
	if v := p.p.Load(); v != nil {
		cur = *v
	}
	f(&cur)
	p.p.Store(&cur)
}

// Running reports whether a state sync is in progress.
func (p *Progress) Running() bool {
	v := p.p.Load()
	return v != nil && v.FinishedAtMs == 0
}
