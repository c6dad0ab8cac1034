package node

import (
	"errors"
	"fmt"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// reads is what the journal and the API adapter read from the store:
// *store.Store, or in tests a wrapper whose reads fail. Every error but
// store.ErrNotFound is a failure of the store, never "absent".
type reads interface {
	ledger.NodeDB
	Head() (store.Head, bool, error)
	Checkpoint(epoch uint64) ([]byte, error)
	CheckpointByHash(h ledger.Hash) ([]byte, uint64, error)
	Checkpoints(beforeEpoch uint64, limit int) ([]store.CheckpointRecord, error)
	Certificate(epoch uint64) ([]byte, error)
	Votes(epoch uint64) (map[uint32][]byte, error)
	Receipts(epoch uint64) ([]byte, error)
	Snapshot(epoch uint64) ([]byte, error)
	TxIndex(h ledger.Hash) ([]byte, error)
	Entry(origin uint32, seq uint64) ([]byte, error)
	Rounds(epoch uint64) ([][]byte, error)
}

var _ reads = (*store.Store)(nil)

// journal is the node's checkpoint.Journal: its Badger store. The shell
// protocol (checkpoint.Shell) decides what is written when; this only maps
// each call to the store, plus the node's metrics and logs.
type journal struct{ n *Node }

var (
	_ checkpoint.Journal  = journal{}
	_ checkpoint.Sender   = sender{}
	_ checkpoint.Observer = observer{}
)

// notFound maps the store's "not found" to the shell's; every other error
// stays a failure.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", checkpoint.ErrNotFound, err)
	}
	return err
}

func (j journal) Head() (checkpoint.Header, error) {
	head, ok, err := j.n.rd.Head()
	switch {
	case err != nil:
		return checkpoint.Header{}, err
	case !ok:
		return checkpoint.Header{}, errors.New("store has no head: the genesis state was never written")
	case head.Epoch == 0:
		return checkpoint.Header{}, nil
	}
	h, err := j.Header(head.Epoch)
	if err != nil {
		return checkpoint.Header{}, err
	}
	if h.StateRoot != head.StateRoot || h.Hash() != head.CheckpointHash {
		return checkpoint.Header{}, fmt.Errorf("store head of epoch %d does not match its checkpoint: %w", head.Epoch, store.ErrCorrupt)
	}
	return h, nil
}

func (j journal) State(h checkpoint.Header) (*ledger.State, error) {
	root := h.StateRoot
	if h.Epoch == 0 {
		head, _, err := j.n.rd.Head()
		if err != nil {
			return nil, err
		}
		root = head.StateRoot
	}
	return j.n.g.OpenState(j.n.rd, root)
}

func (j journal) Header(epoch uint64) (checkpoint.Header, error) { return j.n.header(epoch) }

func (j journal) LastFinal(head uint64) (uint64, error) { return j.n.findLastFinal(head) }

func (j journal) Votes(epoch uint64) ([]checkpoint.Vote, error) {
	raws, err := j.n.rd.Votes(epoch)
	if err != nil {
		return nil, err
	}
	out := make([]checkpoint.Vote, 0, len(raws))
	for k, raw := range raws {
		v, err := checkpoint.DecodeVote(raw)
		if err != nil || v.Validator != k || v.Epoch != epoch {
			return nil, fmt.Errorf("stored vote of %d for epoch %d: %w", k, epoch, store.ErrCorrupt)
		}
		out = append(out, v)
	}
	return out, nil
}

func (j journal) Entry(origin uint32, seq uint64) (stream.Entry, error) {
	raw, err := j.n.rd.Entry(origin, seq)
	if err != nil {
		return stream.Entry{}, notFound(err)
	}
	e, err := stream.DecodeEntry(raw)
	if err != nil || e.Origin != origin || e.Seq != seq {
		return stream.Entry{}, fmt.Errorf("stored entry %d/%d: %w", origin, seq, store.ErrCorrupt)
	}
	return e, nil
}

func (j journal) PutOwnEntry(e stream.Entry) error {
	return j.n.st.PutEntry(e.Origin, e.Seq, e.Encode())
}

// PutVote stores a vote; a peer's second, different vote for one epoch is
// equivocation, and only its first is kept.
func (j journal) PutVote(v checkpoint.Vote) error {
	err := j.n.st.PutVote(v.Epoch, v.Validator, v.Encode())
	if errors.Is(err, store.ErrExists) && v.Validator != j.n.self {
		return nil
	}
	return err
}

func (j journal) Rounds(epoch uint64) ([]checkpoint.RoundMsg, error) {
	raws, err := j.n.rd.Rounds(epoch)
	if err != nil {
		return nil, err
	}
	out := make([]checkpoint.RoundMsg, 0, len(raws))
	for _, raw := range raws {
		m, err := checkpoint.DecodeRoundMsg(raw)
		if err != nil || m.Epoch != epoch {
			return nil, fmt.Errorf("stored round message of epoch %d: %w", epoch, store.ErrCorrupt)
		}
		out = append(out, m)
	}
	return out, nil
}

// PutRound stores a round message; a peer's second, different message for
// one slot is equivocation, and only its first is kept.
func (j journal) PutRound(m checkpoint.RoundMsg) error {
	err := j.n.st.PutRound(m.Epoch, m.Validator, m.Round, byte(m.Kind), m.Encode())
	if errors.Is(err, store.ErrExists) && m.Validator != j.n.self {
		return nil
	}
	return err
}

func (j journal) CommitEpoch(r *checkpoint.EpochResult) error { return j.n.commitEpoch(r) }

// PutCertified stores a certificate; the round messages of the epoch (and
// of any before) are needed no more.
func (j journal) PutCertified(c checkpoint.Certified) error {
	if err := j.n.st.PutCertificate(c.Header.Epoch, c.Certificate.Encode()); err != nil {
		return err
	}
	return j.n.st.DropRounds(c.Header.Epoch)
}

func (j journal) Sync() error { return j.n.syncStore() }

// sender publishes the shell's entries and votes on the network. Gossip is
// best effort (repair and vote fetches recover losses), so a publish error
// is logged and never stops the node.
type sender struct{ n *Node }

func (s sender) SendEntry(e stream.Entry) error {
	if err := s.n.net.Publish(e); err != nil {
		s.n.log.Warn("publish entry", "seq", e.Seq, "err", err)
	}
	return nil
}

func (s sender) SendRound(m checkpoint.RoundMsg) error {
	if err := s.n.net.PublishVote(encodeConsensus(consensusRound, m.Encode())); err != nil {
		s.n.log.Warn("publish round message", "epoch", m.Epoch, "round", m.Round, "kind", m.Kind, "err", err)
	}
	return nil
}

func (s sender) SendVote(v checkpoint.Vote) error {
	n := s.n
	if err := n.net.PublishVote(encodeConsensus(consensusVote, v.Encode())); err != nil {
		n.log.Warn("publish vote", "epoch", v.Epoch, "err", err)
	}
	for i := range n.readyEpochs {
		if h := n.readyEpochs[i].Header; h.Epoch == v.Epoch {
			d := n.now().Sub(n.boundaryOf(h))
			n.mets.observePhase("voted", d)
			n.log.Debug("voted", "epoch", h.Epoch, "after_boundary_ms", d.Milliseconds())
		}
	}
	return nil
}

// observer keeps the node's metrics and logs of each Ready.
type observer struct{ n *Node }

func (o observer) BeforeReady(rd *checkpoint.Ready) {
	n := o.n
	n.readyEpochs = rd.Epochs
	if len(rd.Epochs) > 0 && !n.stepAt.IsZero() {
		n.mets.observePhase("execute", n.now().Sub(n.stepAt))
	}
}

func (o observer) AfterReady(rd *checkpoint.Ready) {
	n := o.n
	n.readyEpochs = nil
	for _, c := range rd.Finalized {
		n.onFinal(c)
	}
	for _, d := range rd.Divergences {
		n.log.Error("DIVERGENCE: a quorum certified another checkpoint; this node stops voting",
			"epoch", d.Epoch, "ours", d.Ours, "certified", d.Certified)
		n.mets.divergences.Inc()
	}
}

// The votes topic carries the consensus traffic: header votes and the
// round messages of the agreement on cuts, each behind a kind byte.
const (
	consensusVote  byte = 1
	consensusRound byte = 2
)

func encodeConsensus(kind byte, payload []byte) []byte { return append([]byte{kind}, payload...) }

// errMalformedConsensus wraps a consensus message that does not decode.
var errMalformedConsensus = errors.New("malformed consensus message")

// decodeConsensus parses a consensus message: a vote or a round message.
func decodeConsensus(b []byte) (*checkpoint.Vote, *checkpoint.RoundMsg, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty", errMalformedConsensus)
	}
	switch b[0] {
	case consensusVote:
		v, err := checkpoint.DecodeVote(b[1:])
		if err != nil {
			return nil, nil, err
		}
		return &v, nil, nil
	case consensusRound:
		m, err := checkpoint.DecodeRoundMsg(b[1:])
		if err != nil {
			return nil, nil, err
		}
		return nil, &m, nil
	}
	return nil, nil, fmt.Errorf("%w: kind %d", errMalformedConsensus, b[0])
}
