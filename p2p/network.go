package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
)

// EntrySource serves stored entries for repair; the node implements it
// with node/store. Entries returns the encoded entries of origin with seq
// in [from, to], in seq order, contiguous from `from`, stopping early at a
// missing seq or once maxBytes of entries are collected (at least one
// entry is returned if `from` exists, whatever its size).
type EntrySource interface {
	Entries(origin uint32, from, to uint64, maxBytes int) ([][]byte, error)
}

// Handler serves one request kind of the sync protocol. It must respect
// ctx and return at most MaxResponseBytes-1 bytes.
type Handler func(ctx context.Context, from peer.ID, payload []byte) ([]byte, error)

// Publishing errors.
var (
	ErrNotValidator = errors.New("p2p: this node is not a validator")
	ErrWrongOrigin  = errors.New("p2p: entry origin is not this node")
	ErrClosed       = errors.New("p2p: network closed")
	ErrNotStarted   = errors.New("p2p: stream delivery not started")
	ErrVoteTooLarge = errors.New("p2p: vote too large")
)

type source uint8

const (
	fromGossip source = iota
	fromRepair
	fromLocal
)

type inboundEntry struct {
	entry stream.Entry
	from  source
}

type knownHead struct {
	origin uint32
	seq    uint64
}

// Network is the libp2p host, gossip topics, receiver and repair service of
// one node. Its methods are safe for concurrent use.
type Network struct {
	cfg     Config
	log     *slog.Logger
	host    host.Host
	ps      *pubsub.PubSub
	entries *pubsub.Topic
	votes   *pubsub.Topic
	entSub  *pubsub.Subscription
	voteSub *pubsub.Subscription
	src     EntrySource
	self    peer.ID
	addrIdx map[common.Address]int
	tracer  *dropTracer
	guard   *invalidGuard
	startAt time.Time

	inbound    chan inboundEntry
	known      chan knownHead
	repairs    chan stream.Gap
	deliveries chan stream.Entry
	voteCh     chan []byte
	evidence   chan stream.Evidence

	// heads[i] is the highest contiguous seq delivered from origin i,
	// written by the sequencer goroutine, read by the status handler.
	heads []atomic.Uint64
	// repairing[i] is true while a repair of origin i is queued or running.
	repairing []atomic.Bool

	handlersMu sync.RWMutex
	handlers   map[byte]Handler
	serveMu    sync.Mutex
	serving    map[peer.ID]int

	stats     counters
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	pubMu     sync.Mutex // orders Publish: the local feed and gossip see one order

	// started is set once Start ran: before, gossiped entries are dropped
	// (repair recovers them) and Publish refuses.
	started atomic.Bool
	// seqMu guards the running sequence loop, which Start replaces.
	seqMu   sync.Mutex
	seqStop context.CancelFunc
	seqDone chan struct{}
}

// New starts the host, joins the topics and starts the gossip, repair,
// status and reconnect goroutines; the sync protocol is served at once.
// Stream delivery begins with Start. Close, or the end of ctx, stops them
// all.
func New(ctx context.Context, cfg Config, src EntrySource) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("%w: nil EntrySource", ErrConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Network{
		cfg:        cfg,
		src:        src,
		addrIdx:    make(map[common.Address]int, len(cfg.Validators)),
		tracer:     newDropTracer(),
		guard:      newInvalidGuard(cfg.InvalidLimit, cfg.InvalidWindow, cfg.BlacklistFor),
		startAt:    time.Now(),
		inbound:    make(chan inboundEntry, cfg.InboundQueue),
		known:      make(chan knownHead, 4*len(cfg.Validators)),
		repairs:    make(chan stream.Gap, len(cfg.Validators)),
		deliveries: make(chan stream.Entry, cfg.DeliveryQueue),
		voteCh:     make(chan []byte, cfg.VoteQueue),
		evidence:   make(chan stream.Evidence, 64),
		heads:      make([]atomic.Uint64, len(cfg.Validators)),
		repairing:  make([]atomic.Bool, len(cfg.Validators)),
		handlers:   make(map[byte]Handler),
		serving:    make(map[peer.ID]int),
	}
	for i, v := range cfg.Validators {
		n.addrIdx[v.Address] = i
	}
	if err := n.startHost(); err != nil {
		return nil, err
	}
	n.log = log.With("component", "p2p", "peer", n.self.String())
	n.ctx, n.cancel = context.WithCancel(ctx)
	if err := n.startPubsub(); err != nil {
		n.cancel()
		_ = n.host.Close()
		return nil, err
	}
	n.host.SetStreamHandler(protocol.ID(SyncProtocol), n.serveStream)
	n.wg.Go(n.gossipLoop)
	n.wg.Go(n.voteLoop)
	for range cfg.RepairWorkers {
		n.wg.Go(n.repairLoop)
	}
	if cfg.StatusInterval > 0 {
		n.wg.Go(n.statusLoop)
	}
	n.wg.Go(n.reconnectLoop)
	return n, nil
}

func (n *Network) startHost() error {
	priv, err := LibP2PKey(n.cfg.Key)
	if err != nil {
		return fmt.Errorf("p2p: identity: %w", err)
	}
	n.self, err = peer.IDFromPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("p2p: identity: %w", err)
	}
	g := &allowGater{validators: n.addrIdx, observers: map[peer.ID]bool{}, refused: func() { n.stats.refused.Add(1) }}
	for _, s := range n.cfg.Observers {
		id, _ := peer.Decode(s) // checked by Validate
		g.observers[id] = true
	}
	cm, err := connmgr.NewConnManager(64, 128, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return fmt.Errorf("p2p: conn manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(n.cfg.ListenAddrs...),
		libp2p.ConnectionGater(g),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		// TCP only, without SO_REUSEPORT. Validators listen on fixed
		// addresses and need no hole punching; with reuseport a second
		// process binding the same port succeeds silently and the kernel
		// splits inbound connections between the two, so a port clash
		// becomes a partition instead of an "address already in use"
		// error (it did, in CI). A PSK rules out QUIC anyway (libp2p private networks are TCP only).
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
	}
	if n.cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(pnet.PSK(n.cfg.PSK)))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return fmt.Errorf("p2p: host: %w", err)
	}
	n.host = h
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if _, ok := n.validatorIndex(c.RemotePeer()); ok {
			h.ConnManager().Protect(c.RemotePeer(), "validator")
		}
	}})
	return nil
}

func (n *Network) startPubsub() error {
	var direct []peer.AddrInfo
	for i, v := range n.cfg.Validators {
		if v.Addr == "" || i == n.cfg.Self {
			continue
		}
		ai, _ := addrInfo(v.Addr) // checked by Validate
		direct = append(direct, *ai)
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	}
	q := n.cfg.PubsubQueue
	entriesName, votesName := "/ledgerd/"+n.cfg.ChainID+"/entries/1", "/ledgerd/"+n.cfg.ChainID+"/votes/1"
	score, thresholds := scoreParams(entriesName, votesName)
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return string(crypto.Keccak256(m.Data)) }),
		pubsub.WithValidateWorkers(1),
		pubsub.WithValidateQueueSize(q),
		pubsub.WithPeerOutboundQueueSize(q),
		pubsub.WithDirectPeers(direct),
		pubsub.WithDirectConnectTicks(5),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(false),
		pubsub.WithSeenMessagesTTL(n.cfg.SeenTTL),
		pubsub.WithRawTracer(n.tracer),
		pubsub.WithPeerScore(score, thresholds),
		pubsub.WithBlacklist(n.guard),
	)
	if err != nil {
		return fmt.Errorf("p2p: gossipsub: %w", err)
	}
	n.ps = ps
	if err := ps.RegisterTopicValidator(entriesName, n.validateEntry, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("p2p: entries validator: %w", err)
	}
	if err := ps.RegisterTopicValidator(votesName, n.validateVote, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("p2p: votes validator: %w", err)
	}
	if n.entries, err = ps.Join(entriesName); err != nil {
		return fmt.Errorf("p2p: join entries: %w", err)
	}
	if n.votes, err = ps.Join(votesName); err != nil {
		return fmt.Errorf("p2p: join votes: %w", err)
	}
	if n.entSub, err = n.entries.Subscribe(pubsub.WithBufferSize(q)); err != nil {
		return fmt.Errorf("p2p: subscribe entries: %w", err)
	}
	if n.voteSub, err = n.votes.Subscribe(pubsub.WithBufferSize(q)); err != nil {
		return fmt.Errorf("p2p: subscribe votes: %w", err)
	}
	return nil
}

// scoreParams penalizes invalid messages (P4) and nothing else: with a
// handful of validators the delivery-rate terms only add noise. Direct
// peers are never graylisted by gossipsub, so this mainly limits observers.
func scoreParams(topics ...string) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	topic := &pubsub.TopicScoreParams{
		SkipAtomicValidation:           true,
		TopicWeight:                    1,
		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  0.9,
	}
	params := &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics:               make(map[string]*pubsub.TopicScoreParams, len(topics)),
		TopicScoreCap:        0,
		AppSpecificScore:     func(peer.ID) float64 { return 0 },
		DecayInterval:        time.Second,
		DecayToZero:          0.01,
	}
	for _, t := range topics {
		params.Topics[t] = topic
	}
	return params, &pubsub.PeerScoreThresholds{
		SkipAtomicValidation: true,
		GossipThreshold:      -100,
		PublishThreshold:     -500,
		GraylistThreshold:    -1000,
	}
}

// validatorIndex maps a peer ID to its validator index.
func (n *Network) validatorIndex(id peer.ID) (int, bool) {
	a, err := AddressFromPeerID(id)
	if err != nil {
		return -1, false
	}
	i, ok := n.addrIdx[a]
	return i, ok
}

// verifyEntry decodes and checks an entry from the wire: structure, origin
// in range, and the origin's signature under this chain ID.
func (n *Network) verifyEntry(data []byte) (stream.Entry, error) {
	e, err := stream.DecodeEntry(data)
	if err != nil {
		return e, err
	}
	if int64(e.Origin) >= int64(len(n.cfg.Validators)) {
		return e, fmt.Errorf("%w: %d", stream.ErrUnknownOrigin, e.Origin)
	}
	return e, e.Verify(n.cfg.ChainID, n.cfg.Validators[e.Origin].Address)
}

func (n *Network) validateEntry(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == n.self {
		return pubsub.ValidationAccept // Publish checked it
	}
	e, err := n.verifyEntry(msg.Data)
	if err != nil {
		n.stats.rejected.Add(1)
		n.log.Debug("reject entry", "from", from, "err", err)
		return n.reject(from)
	}
	msg.ValidatorData = e
	return pubsub.ValidationAccept
}

func (n *Network) validateVote(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == n.self {
		return pubsub.ValidationAccept
	}
	if len(msg.Data) == 0 || len(msg.Data) > n.cfg.MaxVoteBytes {
		n.stats.votesRejected.Add(1)
		return n.reject(from)
	}
	if n.cfg.VoteValidator != nil {
		if err := n.cfg.VoteValidator(msg.Data); err != nil {
			n.stats.votesRejected.Add(1)
			return n.reject(from)
		}
	}
	return pubsub.ValidationAccept
}

// reject counts an invalid message from the peer that forwarded it and
// blacklists that peer once it crosses the guard's limit.
func (n *Network) reject(from peer.ID) pubsub.ValidationResult {
	if n.guard.invalid(from, time.Now()) {
		n.stats.blacklisted.Add(1)
		n.log.Warn("blacklisting a peer that forwards invalid gossip", "peer", from,
			"limit", n.cfg.InvalidLimit, "window", n.cfg.InvalidWindow, "for", n.cfg.BlacklistFor)
		n.ps.BlacklistPeer(from)
	}
	return pubsub.ValidationReject
}

// Publish signs nothing: e must be signed by this node and already
// persisted. It is fed to the local sequencer and gossiped.
func (n *Network) Publish(e stream.Entry) error {
	if n.cfg.Self < 0 {
		return ErrNotValidator
	}
	if int(e.Origin) != n.cfg.Self {
		return fmt.Errorf("%w: origin %d, self %d", ErrWrongOrigin, e.Origin, n.cfg.Self)
	}
	if err := e.Check(); err != nil {
		return err
	}
	if err := e.Verify(n.cfg.ChainID, n.cfg.Validators[n.cfg.Self].Address); err != nil {
		return err
	}
	if !n.started.Load() {
		return ErrNotStarted
	}
	data := e.Encode()
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	select {
	case n.inbound <- inboundEntry{entry: e, from: fromLocal}:
	case <-n.ctx.Done():
		return ErrClosed
	}
	if err := n.entries.Publish(n.ctx, data); err != nil {
		return fmt.Errorf("p2p: publish origin=%d seq=%d: %w", e.Origin, e.Seq, err)
	}
	n.stats.published.Add(1)
	return nil
}

// PublishVote gossips opaque vote bytes (persisted by the caller first).
func (n *Network) PublishVote(data []byte) error {
	if len(data) == 0 || len(data) > n.cfg.MaxVoteBytes {
		return fmt.Errorf("%w: %d bytes", ErrVoteTooLarge, len(data))
	}
	if err := n.votes.Publish(n.ctx, data); err != nil {
		return fmt.Errorf("p2p: publish vote: %w", err)
	}
	n.stats.publishedVotes.Add(1)
	return nil
}

// Deliveries yields verified entries, strictly in seq order per origin,
// each exactly once (this node's own only with Config.DeliverOwn).
func (n *Network) Deliveries() <-chan stream.Entry { return n.deliveries }

// Votes yields the bytes of gossiped votes that passed VoteValidator.
func (n *Network) Votes() <-chan []byte { return n.voteCh }

// Evidence yields misbehaviour proofs (equivocation, broken epoch rule).
// It is bounded; evidence is dropped (and counted) if nobody reads.
func (n *Network) Evidence() <-chan stream.Evidence { return n.evidence }

// ID returns this host's peer ID.
func (n *Network) ID() peer.ID { return n.self }

// Addrs returns the host's listen addresses with its /p2p/ component.
func (n *Network) Addrs() []string {
	var out []string
	for _, a := range n.host.Addrs() {
		out = append(out, a.String()+"/p2p/"+n.self.String())
	}
	return out
}

// Peers returns the connected peer IDs.
func (n *Network) Peers() []peer.ID { return n.host.Network().Peers() }

// Close stops every goroutine and the host. It is idempotent.
func (n *Network) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.cancel()
		n.host.RemoveStreamHandler(protocol.ID(SyncProtocol))
		n.entSub.Cancel()
		n.voteSub.Cancel()
		err = n.host.Close()
		n.wg.Wait()
	})
	return err
}

// Start begins, or begins again, in-order delivery of every origin's
// stream at start (one position per validator): a new sequencer replaces
// the running one, whose undelivered entries are dropped. A node calls it
// once it knows where its journal ends, and again after installing a state
// that moved every position forward.
func (n *Network) Start(start []stream.OriginStart) error {
	if len(start) != len(n.cfg.Validators) {
		return fmt.Errorf("%w: %d start positions for %d validators", ErrConfig, len(start), len(n.cfg.Validators))
	}
	seq, err := stream.NewSequencer(stream.SequencerConfig{
		ChainID: n.cfg.ChainID, Origins: len(n.cfg.Validators), WindowSeqs: n.cfg.WindowSeqs,
		MaxHeldBytes: n.cfg.MaxHeldBytes, RecentDigests: 1024, GapTimeout: n.cfg.GapTimeout.Milliseconds(),
		MaxEvidence: 64, MaxGapsPerOrigin: 16,
	}, start)
	if err != nil {
		return fmt.Errorf("p2p: sequencer: %w", err)
	}
	n.seqMu.Lock()
	defer n.seqMu.Unlock()
	if n.ctx.Err() != nil {
		return ErrClosed
	}
	if n.seqStop != nil {
		n.seqStop()
		<-n.seqDone
	}
	for i := range n.heads {
		n.heads[i].Store(seq.Next(uint32(i)) - 1)
	}
	ctx, stop := context.WithCancel(n.ctx)
	done := make(chan struct{})
	n.seqStop, n.seqDone = stop, done
	n.started.Store(true)
	n.wg.Go(func() {
		defer close(done)
		n.sequenceLoop(ctx, seq)
	})
	return nil
}

func (n *Network) now() int64 { return time.Since(n.startAt).Milliseconds() }

// sequenceLoop owns one Sequencer until ctx ends (Close, or a new Start).
func (n *Network) sequenceLoop(ctx context.Context, seq *stream.Sequencer) {
	tick := time.NewTicker(max(n.cfg.GapTimeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-n.inbound:
			if !n.sequence(ctx, seq, in) {
				return
			}
		case k := <-n.known:
			_ = seq.NoteKnown(k.origin, k.seq, n.now())
		case <-tick.C:
			n.scheduleRepairs(seq.Gaps(n.now()))
		}
	}
}

// scheduleRepairs merges each origin's gaps into one range and queues it,
// unless a repair of that origin is still running: stale duplicates of a
// gap would otherwise pile up behind slow peers and delay fresh ones.
func (n *Network) scheduleRepairs(gaps []stream.Gap) {
	for k := 0; k < len(gaps); {
		g := gaps[k]
		for k++; k < len(gaps) && gaps[k].Origin == g.Origin; k++ {
			g.To = gaps[k].To
		}
		if !n.repairing[g.Origin].CompareAndSwap(false, true) {
			continue
		}
		select {
		case n.repairs <- g:
		default: // backlog full: the gap is reported again later
			n.repairing[g.Origin].Store(false)
		}
	}
}

// sequence adds one entry and delivers what it releases; false once ctx ends.
func (n *Network) sequence(ctx context.Context, seq *stream.Sequencer, in inboundEntry) bool {
	released, st, err := seq.Add(in.entry, n.now())
	switch st {
	case stream.StatusDuplicate, stream.StatusStale:
		n.stats.duplicates.Add(1)
	case stream.StatusHeld:
		n.stats.held.Add(1)
	case stream.StatusTooFarAhead, stream.StatusBufferFull:
		n.stats.overflow.Add(1)
	case stream.StatusEquivocation:
		n.stats.equivocations.Add(1)
	case stream.StatusBroken:
		n.stats.broken.Add(1)
	}
	if err != nil {
		n.log.Warn("stream broken", "origin", in.entry.Origin, "seq", in.entry.Seq, "err", err)
	}
	for _, ev := range seq.TakeEvidence() {
		n.log.Warn("misbehaviour evidence", "origin", ev.Origin, "seq", ev.Seq, "kind", ev.Kind)
		select {
		case n.evidence <- ev:
		default:
			n.stats.evidenceDropped.Add(1)
		}
	}
	for _, e := range released {
		n.heads[e.Origin].Store(e.Seq)
		if int(e.Origin) == n.cfg.Self && !n.cfg.DeliverOwn {
			continue
		}
		select {
		case n.deliveries <- e:
			n.stats.delivered.Add(1)
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (n *Network) gossipLoop() {
	emit := func(e stream.Entry) {
		select {
		case n.inbound <- inboundEntry{entry: e, from: fromGossip}:
		case <-n.ctx.Done():
		}
	}
	for {
		msg, err := n.entSub.Next(n.ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == n.self {
			continue // fed locally by Publish
		}
		e, ok := msg.ValidatorData.(stream.Entry)
		if !ok || !n.started.Load() {
			continue
		}
		n.stats.gossipReceived.Add(1)
		if n.cfg.gossipHook != nil {
			n.cfg.gossipHook(e, emit)
			continue
		}
		emit(e)
	}
}

func (n *Network) voteLoop() {
	for {
		msg, err := n.voteSub.Next(n.ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == n.self {
			continue
		}
		select {
		case n.voteCh <- msg.Data:
			n.stats.votesDelivered.Add(1)
		case <-n.ctx.Done():
			return
		}
	}
}

// reconnectLoop keeps static peers and validators with an address hint
// connected; libp2p never reconnects by itself.
func (n *Network) reconnectLoop() {
	var targets []peer.AddrInfo
	for i, v := range n.cfg.Validators {
		if v.Addr != "" && i != n.cfg.Self {
			ai, _ := addrInfo(v.Addr)
			targets = append(targets, *ai)
		}
	}
	for _, s := range n.cfg.StaticPeers {
		ai, _ := addrInfo(s)
		if ai.ID != n.self {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
			targets = append(targets, *ai)
		}
	}
	tick := time.NewTicker(n.cfg.ReconnectInterval)
	defer tick.Stop()
	for {
		for _, ai := range targets {
			if n.host.Network().Connectedness(ai.ID) == network.Connected {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, max(n.cfg.ReconnectInterval, time.Second))
			if err := n.host.Connect(ctx, ai); err == nil {
				n.log.Info("connected", "remote", ai.ID)
			}
			cancel()
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// statusLoop asks connected validators for their stream heads, so a lost
// tail (nothing published after it) is still noticed and repaired.
func (n *Network) statusLoop() {
	tick := time.NewTicker(n.cfg.StatusInterval)
	defer tick.Stop()
	// failures counts consecutive failed status requests per peer. A
	// connection whose peer stopped answering (its address changed, a
	// partition healed while the old TCP connection stays half-open) is
	// closed, so the reconnect loop dials it afresh instead of waiting for
	// the transport's keepalive.
	failures := map[peer.ID]int{}
	const maxStatusFailures = 3
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
		for _, p := range n.host.Network().Peers() {
			if _, ok := n.validatorIndex(p); !ok {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RepairTimeout)
			resp, err := n.Request(ctx, p, KindStatus, nil)
			cancel()
			if err != nil {
				if n.ctx.Err() != nil {
					return
				}
				if failures[p]++; failures[p] >= maxStatusFailures {
					n.log.Warn("closing connection to an unresponsive validator", "peer", p, "err", err)
					_ = n.host.Network().ClosePeer(p)
					delete(failures, p)
				}
				continue
			}
			delete(failures, p)
			heads, err := DecodeStatus(resp)
			if err != nil || len(heads) != len(n.cfg.Validators) {
				continue
			}
			for origin, h := range heads {
				if h <= n.heads[origin].Load() {
					continue
				}
				select {
				case n.known <- knownHead{origin: uint32(origin), seq: h}:
				default:
				}
			}
		}
	}
}

// Request sends one sync request of kind to p and returns the response
// payload. ctx bounds the whole exchange.
func (n *Network) Request(ctx context.Context, p peer.ID, kind byte, payload []byte) ([]byte, error) {
	if len(payload)+1 > MaxRequestBytes {
		return nil, fmt.Errorf("%w: request %d bytes", ErrFrameTooLarge, len(payload))
	}
	s, err := n.host.NewStream(ctx, p, protocol.ID(SyncProtocol))
	if err != nil {
		return nil, fmt.Errorf("p2p: open sync stream to %s: %w", p, err)
	}
	defer s.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(n.cfg.RepairTimeout)
	}
	_ = s.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := writeFrame(s, kind, payload); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("p2p: sync request to %s: %w", p, err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("p2p: sync request to %s: %w", p, err)
	}
	code, resp, err := readFrame(bufio.NewReader(s), MaxResponseBytes)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("p2p: sync response from %s: %w", p, err)
	}
	switch code {
	case codeOK:
		return resp, nil
	case codeUnknownKind:
		return nil, fmt.Errorf("%w: kind %d at %s", ErrUnknownKind, kind, p)
	case codeBusy:
		return nil, fmt.Errorf("%w: %s", ErrBusy, p)
	default:
		return nil, fmt.Errorf("%w: %s: %.200q", ErrRemote, p, resp)
	}
}

// RegisterHandler serves kind (>= FirstUserKind) on the sync protocol.
func (n *Network) RegisterHandler(kind byte, h Handler) error {
	if kind < FirstUserKind || h == nil {
		return fmt.Errorf("%w: %d", ErrKindTaken, kind)
	}
	n.handlersMu.Lock()
	defer n.handlersMu.Unlock()
	if _, ok := n.handlers[kind]; ok {
		return fmt.Errorf("%w: %d", ErrKindTaken, kind)
	}
	n.handlers[kind] = h
	return nil
}

// serveStream answers one request; libp2p runs it on its own goroutine.
func (n *Network) serveStream(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(n.cfg.RepairTimeout))
	n.serveMu.Lock()
	busy := n.serving[p] >= n.cfg.MaxServePerPeer
	if !busy {
		n.serving[p]++
	}
	n.serveMu.Unlock()
	if busy {
		_ = writeFrame(s, codeBusy, nil)
		return
	}
	defer func() {
		n.serveMu.Lock()
		if n.serving[p]--; n.serving[p] == 0 {
			delete(n.serving, p)
		}
		n.serveMu.Unlock()
	}()
	kind, payload, err := readFrame(bufio.NewReader(s), MaxRequestBytes)
	if err != nil {
		_ = s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RepairTimeout)
	defer cancel()
	resp, err := n.handle(ctx, p, kind, payload)
	switch {
	case errors.Is(err, ErrUnknownKind):
		_ = writeFrame(s, codeUnknownKind, nil)
	case err != nil:
		_ = writeFrame(s, codeError, []byte(err.Error()))
	case len(resp)+1 > MaxResponseBytes:
		_ = writeFrame(s, codeError, []byte("response too large"))
	default:
		n.stats.served.Add(1)
		_ = writeFrame(s, codeOK, resp)
	}
}

func (n *Network) handle(ctx context.Context, p peer.ID, kind byte, payload []byte) ([]byte, error) {
	switch kind {
	case KindEntries:
		q, err := DecodeEntriesRequest(payload)
		if err != nil {
			return nil, err
		}
		if int64(q.Origin) >= int64(len(n.cfg.Validators)) {
			return nil, fmt.Errorf("%w: %d", stream.ErrUnknownOrigin, q.Origin)
		}
		to := min(q.To, q.From+MaxRangeSeqs-1)
		limit := min(int(q.MaxBytes), MaxResponseBytes-64<<10)
		list, err := n.src.Entries(q.Origin, q.From, to, max(limit, 1))
		if err != nil {
			return nil, fmt.Errorf("entries origin=%d %d..%d: %w", q.Origin, q.From, to, err)
		}
		return stream.EncodeList(list), nil
	case KindStatus:
		heads := make([]uint64, len(n.heads))
		for i := range heads {
			heads[i] = n.heads[i].Load()
		}
		return EncodeStatus(heads), nil
	}
	n.handlersMu.RLock()
	h := n.handlers[kind]
	n.handlersMu.RUnlock()
	if h == nil {
		return nil, ErrUnknownKind
	}
	return h(ctx, p, payload)
}

// repairLoop fetches reported gaps: from the origin first, then from any
// other connected validator.
func (n *Network) repairLoop() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case g := <-n.repairs:
			n.repair(g)
			n.repairing[g.Origin].Store(false)
		}
	}
}

func (n *Network) repairCandidates(origin uint32) []peer.ID {
	var first, rest []peer.ID
	for _, p := range n.host.Network().Peers() {
		idx, ok := n.validatorIndex(p)
		if !ok {
			continue
		}
		if idx == int(origin) {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	return append(first, rest...)
}

func (n *Network) repair(g stream.Gap) {
	from := g.From
	for _, p := range n.repairCandidates(g.Origin) {
		for from <= g.To {
			got, err := n.fetch(p, g.Origin, from, g.To)
			if err != nil || got == 0 {
				if err != nil {
					n.stats.repairFailures.Add(1)
					n.log.Debug("repair failed", "origin", g.Origin, "from", from, "remote", p, "err", err)
				}
				break
			}
			from += got
		}
		if from > g.To {
			return
		}
	}
}

// fetch requests origin's [from, to] from p, verifies and queues what comes
// back, and returns the number of contiguous entries received.
func (n *Network) fetch(p peer.ID, origin uint32, from, to uint64) (uint64, error) {
	n.stats.repairs.Add(1)
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RepairTimeout)
	defer cancel()
	q := EntriesRequest{Origin: origin, From: from, To: to, MaxBytes: MaxResponseBytes - 64<<10}
	resp, err := n.Request(ctx, p, KindEntries, q.Encode())
	if err != nil {
		return 0, err
	}
	list, err := DecodeEntryList(resp)
	if err != nil {
		return 0, err
	}
	for i, raw := range list {
		e, err := n.verifyEntry(raw)
		if err != nil {
			return uint64(i), err
		}
		if e.Origin != origin || e.Seq != from+uint64(i) || e.Seq > to {
			return uint64(i), fmt.Errorf("%w: got origin %d seq %d for %d/%d", ErrBadMessage, e.Origin, e.Seq, origin, from+uint64(i))
		}
		select {
		case n.inbound <- inboundEntry{entry: e, from: fromRepair}:
			n.stats.repaired.Add(1)
		case <-n.ctx.Done():
			return uint64(i), ErrClosed
		}
	}
	return uint64(len(list)), nil
}
