// Package node runs a validator: one event loop owns its checkpoint.Shell
// (the protocol's Ready processing and restore over the store and the
// network), the mempool feeds it, a verifier checks delivered batches on
// every core, node/statesync serves and fetches certified state, and the
// HTTP API reads from the store and an immutable view the loop publishes.
// docs/ARCHITECTURE.md draws the whole.
package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/mempool"
	"github.com/ledgerd/ledgerd/node/statesync"
	"github.com/ledgerd/ledgerd/node/store"
)

// Network is the network as the node sees it (p2p implements it, tests use
// an in-process hub): gossip of the own stream and votes, in-order
// delivery of the others' streams with repair, and request/response with
// one validator for state sync and catch-up.
type Network interface {
	statesync.Network
	// Publish gossips an entry of this node's outbox, already persisted.
	Publish(e stream.Entry) error
	// PublishVote gossips an encoded vote.
	PublishVote(data []byte) error
	// Start begins, or begins again, in-order delivery of the streams at
	// start (one position per validator).
	Start(start []stream.OriginStart) error
	// Deliveries yields other validators' entries, signature-checked and in
	// seq order per origin.
	Deliveries() <-chan stream.Entry
	// Votes yields encoded votes received from peers.
	Votes() <-chan []byte
}

// verified is a delivered entry with its transactions checked.
type verified struct {
	e   stream.Entry
	txs []ledger.CheckedTx
	// stored is the result of persisting e (store.ErrExists: another
	// entry with e's origin and seq is stored: equivocation).
	stored error
}

// Node is a running validator.
type Node struct {
	cfg  Config
	log  *slog.Logger
	g    *ledger.Genesis
	key  *ecdsa.PrivateKey
	self uint32
	st   *store.Store
	// rd is where the journal and the API adapter read: st, or a test's
	// wrapper.
	rd  reads
	net Network
	// sh is the validator's shell and Machine; only the loop steps it,
	// others read through sh.Machine() on the loop only.
	sh   *checkpoint.Shell
	mets *metrics
	now  func() time.Time
	pool *mempool.Pool
	view atomic.Pointer[view]

	// stepAt is when the current machine step (a delivery or a tick, the
	// steps that can execute an epoch) began; for the execute metric.
	stepAt time.Time
	// readyEpochs are the epochs of the Ready being carried out (observer).
	readyEpochs []checkpoint.EpochResult
	// peers is the connected validator count as of peersAt (publishView).
	peers   int
	peersAt time.Time

	// genHash is g.Hash(), computed once: it encodes every allocation, and
	// a genesis with a million accounts takes tens of milliseconds to hash.
	// genRoot is the genesis state root once known (genesisRoot).
	genHash ledger.Hash
	genRoot *ledger.Hash

	// verifyBacklog counts the entries received from the network and not
	// yet handed to the loop. startVerifier sets it before the loop
	// publishes its first view; read it only after backend.ready.
	verifyBacklog func() int

	// sync serves and fetches certified state (node/statesync).
	sync *statesync.Service
	// closeNet closes the network the node built itself (nil for one the
	// caller passed in Options).
	closeNet func() error
	// apiSrv is the API listener (servers.go); it opens before the
	// start-up state sync so /v1/status shows its progress.
	apiSrv *apiServer
}

// view is the immutable summary the loop publishes for API reads.
type view struct {
	head        checkpoint.Header
	headHash    ledger.Hash
	lastFinal   uint64
	finalHash   ledger.Hash
	finalRoot   ledger.Hash
	epoch       uint64
	peers       int
	halted      bool
	finalChange chan struct{} // closed when lastFinal moves on
}

// Options are the parts of a node that tests replace.
type Options struct {
	// Network is the transport, owned by the caller; nil means libp2p built
	// from the config (and closed by the node).
	Network Network
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ProbeWait bounds the start-up probe's wait for the other validators
	// (statesync.Service.ProbeWait); 0 means the defaults.
	ProbeWait time.Duration
	// wrapReads, if set (tests), wraps the store's reads.
	wrapReads func(reads) reads
	// Logger; nil discards.
	Logger *slog.Logger
}

// ErrHalted is returned by Run when the node stopped after a divergence.
var ErrHalted = errors.New("node: halted: our checkpoint differs from a certified one")

// openCtx opens a node: genesis, key, store, the API listener (so
// /v1/status reports the start-up), the network with the sync protocol
// served, the start-up state sync (statesync.OnStart, which ctx cancels),
// the restore from the store, and stream delivery from where the store
// ends.
func openCtx(ctx context.Context, cfg Config, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g, err := LoadGenesis(cfg.Path(cfg.GenesisFile))
	if err != nil {
		return nil, err
	}
	key, err := crypto.LoadECDSA(cfg.Path(cfg.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", cfg.Path(cfg.KeyFile), err)
	}
	self, ok := g.ValidatorIndex(crypto.PubkeyToAddress(key.PublicKey))
	if !ok {
		return nil, fmt.Errorf("key %s (address %s) is not a validator of chain %s", cfg.Path(cfg.KeyFile),
			crypto.PubkeyToAddress(key.PublicKey).Hex(), g.ChainID)
	}
	st, err := store.Open(cfg.Path(cfg.DataDir), store.DefaultOptions().Staggered(int(self)))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path(cfg.DataDir), err)
	}
	n := &Node{cfg: cfg, log: log.With("node", cfg.Moniker), g: g, key: key, self: self, st: st, rd: st,
		now: opts.Now, genHash: g.Hash(), mets: newMetrics(g, self)}
	if n.now == nil {
		n.now = time.Now
	}
	if opts.wrapReads != nil {
		n.rd = opts.wrapReads(st)
	}
	n.pool = mempool.New(mempool.Config{ChainID: g.ChainID, MaxTxs: cfg.Mempool.MaxTxs,
		MaxWait: cfg.Mempool.MaxWait(g.EpochLengthMs), Genesis: time.UnixMilli(g.GenesisTimeMs),
		MaxLag: cfg.Mempool.MaxLag(), Lag: n.busyLag, BatchMaxTxs: cfg.Protocol.BatchMaxTxs,
		BatchInterval: time.Duration(cfg.Protocol.BatchIntervalMs) * time.Millisecond,
		Outcome:       func(o string) { n.mets.txsSubmitted.WithLabelValues(o).Inc() }})
	n.sync = &statesync.Service{G: g, Self: self, Store: st, Log: n.log.With("component", "statesync"), Now: n.now,
		LastFinal: func() uint64 {
			if v := n.view.Load(); v != nil {
				return v.lastFinal
			}
			return 0
		}, ProbeWait: opts.ProbeWait}
	if err := n.start(ctx, opts); err != nil {
		n.close()
		return nil, err
	}
	n.mets.registerStore(st.TrimStats)
	return n, nil
}

// start is openCtx after the store is open; on error the caller closes.
func (n *Node) start(ctx context.Context, opts Options) error {
	if err := n.checkGenesisMatches(); err != nil {
		return err
	}
	if err := n.startAPI(); err != nil {
		return err
	}
	n.net = opts.Network
	if n.net == nil {
		net, err := n.startP2P(ctx)
		if err != nil {
			return err
		}
		n.net, n.closeNet = net, net.Close
	}
	n.sync.Net = n.net
	if err := n.sync.Serve(); err != nil {
		return err
	}
	if err := n.sync.OnStart(ctx); err != nil {
		return err
	}
	if err := n.restore(); err != nil {
		return err
	}
	positions, err := n.sh.StreamPositions()
	if err != nil {
		return err
	}
	return n.net.Start(positions)
}

// close releases what openCtx acquired: API listener, network, store.
func (n *Node) close() {
	n.stopAPI()
	if n.closeNet != nil {
		if err := n.closeNet(); err != nil {
			n.log.Warn("close network", "err", err)
		}
	}
	if err := n.st.Close(); err != nil {
		n.log.Error("close store", "err", err)
	}
}

// LoadGenesis reads and validates a genesis file.
func LoadGenesis(path string) (*ledger.Genesis, error) {
	data, err := ReadFileLimited(path, ledger.MaxGenesisBytes)
	if err != nil {
		return nil, fmt.Errorf("read genesis: %w", err)
	}
	g, err := ledger.ParseGenesis(data)
	if err != nil {
		return nil, fmt.Errorf("genesis %s: %w", path, err)
	}
	return g, nil
}

// checkGenesisMatches refuses a data directory of another chain.
func (n *Node) checkGenesisMatches() error {
	want := n.genHash
	got, err := n.st.Meta(store.MetaGenesisHash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case ledger.Hash(got) != want && len(got) == 32:
		return fmt.Errorf("data directory %s belongs to another chain (genesis %x, this genesis %s): refusing to start", n.cfg.Path(n.cfg.DataDir), got, want)
	case len(got) != 32:
		return fmt.Errorf("data directory %s: malformed genesis marker", n.cfg.Path(n.cfg.DataDir))
	}
	return nil
}

// Run runs a validator until ctx ends. It returns nil on a clean shutdown.
func Run(ctx context.Context, cfg Config, opts Options) error {
	n, err := openCtx(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return n.serve(ctx)
}

// serve runs an opened node until ctx ends, then closes it.
func (n *Node) serve(ctx context.Context) error {
	defer n.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stopServers, err := n.startServers(ctx, &wg)
	if err != nil {
		return err
	}
	defer stopServers()
	verifiedCh := n.startVerifier(ctx, &wg)
	fetched := make(chan statesync.Fetched, 4)
	wg.Go(func() {
		n.sync.CatchUp(ctx, func() (uint64, uint64, bool) {
			v := n.view.Load()
			if v == nil {
				return 0, 0, false
			}
			return v.head.Epoch, v.lastFinal, true
		}, fetched)
	})
	m := n.sh.Machine()
	n.log.Info("node started", "validator", n.self, "address", crypto.PubkeyToAddress(n.key.PublicKey).Hex(),
		"chain", n.g.ChainID, "head", m.CurrentEpoch()-1, "final", m.LastFinal())
	if n.cfg.MemoryLimitMiB > 0 {
		// After start-up: decoding a large genesis or syncing state may
		// need far more than the steady state.
		debug.SetMemoryLimit(int64(n.cfg.MemoryLimitMiB) << 20)
	}
	return n.loop(ctx, verifiedCh, fetched)
}

// loop is the only goroutine that touches the shell and its machine.
func (n *Node) loop(ctx context.Context, verifiedCh <-chan verified, fetched <-chan statesync.Fetched) error {
	ticker := time.NewTicker(n.cfg.TickInterval())
	defer ticker.Stop()
	if err := n.tick(); err != nil {
		return err
	}
	if err := n.publishView(); err != nil {
		return err
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			n.log.Info("node stopping")
			return nil
		case <-ticker.C:
			err = n.tick()
		case v := <-verifiedCh:
			err = n.deliver(v)
		case a := <-n.pool.Admitted():
			if n.pool.Add(a) {
				err = n.propose()
			}
		case raw := <-n.net.Votes():
			err = n.stepConsensus(raw)
		case f := <-fetched:
			err = n.stepFetched(f)
		}
		if err == nil {
			err = n.publishView()
		}
		if err != nil {
			return err
		}
		if n.sh.Machine().Halted() {
			return ErrHalted
		}
	}
}

func (n *Node) tick() error {
	now := n.now()
	n.stepAt = now
	if n.pool.Due(now) {
		if err := n.propose(); err != nil {
			return err
		}
	}
	n.sh.ObserveMempool(n.pool.Queued())
	return n.rejected(n.sh.Tick(now.UnixMilli()))
}

func (n *Node) propose() error {
	batch := n.pool.Take()
	if len(batch) == 0 {
		return nil
	}
	if err := n.sh.Propose(batch); err != nil {
		return err
	}
	n.mets.batchTxs.Observe(float64(len(batch)))
	return nil
}

// busyLag is the mempool's Lag: how late the execution of the next epoch
// is (executionLag) while entries wait for verification; 0 for a node that
// is idle, for behind but idle is a stalled network waiting for a
// validator's marker, which the mempool's MaxWait alone governs.
func (n *Node) busyLag(now time.Time) time.Duration {
	v := n.view.Load()
	if v == nil || n.verifyBacklog == nil || n.verifyBacklog() == 0 {
		return 0
	}
	return executionLag(n.g, v.head, now)
}

// executionLag is how long ago the snapshot that will execute the epoch
// after head began, or 0 if it has not begun yet. In a network that keeps
// up it stays below the time one epoch takes from its boundary to its
// execution (tens of milliseconds); under overload every node's backlog of
// batches to verify holds back the markers behind them, and it grows.
func executionLag(g *ledger.Genesis, head checkpoint.Header, now time.Time) time.Duration {
	return max(0, now.Sub(time.UnixMilli(checkpoint.ScheduledBoundary(g, head))))
}

func (n *Node) deliver(v verified) error {
	if err := v.stored; err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("store entry %d/%d: %w", v.e.Origin, v.e.Seq, err)
	} else if errors.Is(err, store.ErrExists) {
		n.log.Warn("equivocation: a second entry for one (origin, seq)", "origin", v.e.Origin, "seq", v.e.Seq)
		n.mets.equivocations.Inc()
		return nil
	}
	n.stepAt = n.now()
	return n.rejected(n.sh.Deliver(v.e, v.txs))
}

// rejected logs and counts an error caused by a peer's input (a broken
// stream is that origin's fault and never stops this node) and returns
// every other error, which stops the node.
func (n *Node) rejected(err error) error {
	if err == nil || !errors.Is(err, checkpoint.ErrRejected) {
		return err
	}
	n.log.Error("peer input rejected", "err", err)
	n.mets.deliverErrors.Inc()
	return nil
}

// stepConsensus hands a gossiped vote or round message to the shell.
func (n *Node) stepConsensus(raw []byte) error {
	v, r, err := decodeConsensus(raw)
	switch {
	case err != nil:
		return n.badConsensus(err)
	case v != nil:
		return n.badConsensus(n.sh.StepVote(*v))
	}
	return n.badConsensus(n.sh.StepRound(*r))
}

// stepFetched hands what catch-up fetched from peers to the shell.
func (n *Node) stepFetched(f statesync.Fetched) error {
	for _, c := range f.Certified {
		if err := n.badConsensus(n.sh.StepCertified(c)); err != nil {
			return err
		}
	}
	for _, raw := range f.Rounds {
		m, err := checkpoint.DecodeRoundMsg(raw)
		if err == nil {
			err = n.sh.StepRound(m)
		}
		if err := n.badConsensus(err); err != nil {
			return err
		}
	}
	for _, raw := range f.Votes {
		v, err := checkpoint.DecodeVote(raw)
		if err == nil {
			err = n.sh.StepVote(v)
		}
		if err := n.badConsensus(err); err != nil {
			return err
		}
	}
	return nil
}

// badConsensus counts a consensus message that does not decode or that
// the shell rejected (a peer's fault, never this node's) and returns every
// other error, which stops the node.
func (n *Node) badConsensus(err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, checkpoint.ErrRejected) && !errors.Is(err, errMalformedConsensus) &&
		!errors.Is(err, checkpoint.ErrVoteMalformed) && !errors.Is(err, checkpoint.ErrRoundMalformed) {
		return err
	}
	n.log.Debug("consensus message rejected", "err", err)
	n.mets.badVotes.Inc()
	return nil
}

// syncStore makes every write so far durable.
func (n *Node) syncStore() error {
	t := n.now()
	if err := n.st.Sync(); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	n.mets.observePhase("sync", n.now().Sub(t))
	return nil
}

// txIndexValue is what the tx index stores per transaction.
type txIndexValue struct {
	Epoch  uint64         `json:"e"`
	Index  uint32         `json:"i"`
	Status ledger.Status  `json:"s"`
	Sender ledger.Address `json:"f"`
}

func (n *Node) commitEpoch(r *checkpoint.EpochResult) error {
	idx := make(map[ledger.Hash][]byte, len(r.TxHashes))
	var receipts []byte
	for i, rc := range r.Receipts {
		if _, dup := idx[rc.TxHash]; !dup || rc.Status == ledger.StatusOK {
			b, _ := json.Marshal(txIndexValue{Epoch: r.Header.Epoch, Index: uint32(i), Status: rc.Status, Sender: rc.Sender})
			idx[rc.TxHash] = b
		}
		receipts = appendReceipt(receipts, rc)
	}
	snap, err := json.Marshal(r.Snapshot)
	if err != nil {
		return err
	}
	c := store.EpochCommit{Epoch: r.Header.Epoch, Nodes: r.Nodes, StateRoot: r.Header.StateRoot,
		Checkpoint: r.Header.Encode(), CheckpointHash: r.Hash, Receipts: receipts, TxIndex: idx, Snapshot: snap,
		Meta: map[string][]byte{store.MetaGenesisHash: n.genesisHashBytes()}}
	executed := n.now().Sub(n.boundaryOf(r.Header))
	n.mets.observePhase("executed", executed)
	t := n.now()
	if err := n.st.CommitEpoch(c); err != nil {
		return fmt.Errorf("commit epoch %d: %w", r.Header.Epoch, err)
	}
	stored := n.now().Sub(t)
	n.mets.observePhase("store_commit", stored)
	n.log.Debug("epoch committed", "epoch", r.Header.Epoch, "txs", r.Header.TxCount,
		"executed_after_ms", executed.Milliseconds(), "store_commit_ms", stored.Milliseconds())
	n.mets.epochExecuted(r, n.g)
	n.pool.Executed(r.TxHashes)
	return nil
}

// appendReceipt appends one length-prefixed (uvarint) receipt encoding.
func appendReceipt(b []byte, rc ledger.Receipt) []byte {
	enc := rc.Encode()
	b = binary.AppendUvarint(b, uint64(len(enc)))
	return append(b, enc...)
}

// decodeReceipts is the inverse of a sequence of appendReceipt.
func decodeReceipts(b []byte) ([]ledger.Receipt, error) {
	var out []ledger.Receipt
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, errors.New("truncated receipt list")
		}
		r, err := ledger.DecodeReceipt(b[n : n+int(l)])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		b = b[n+int(l):]
	}
	return out, nil
}

func (n *Node) genesisHashBytes() []byte {
	h := n.genHash
	return h[:]
}

func (n *Node) onFinal(c checkpoint.Certified) {
	now, start := n.now(), n.boundaryOf(c.Header)
	n.mets.finalized(c, now, start)
	n.log.Info("checkpoint final", "epoch", c.Header.Epoch, "hash", c.Header.Hash(), "txs", c.Header.TxCount,
		"votes", len(c.Certificate.Votes), "after_boundary_ms", now.Sub(start).Milliseconds())
	for _, k := range newlyAbsent(c.Header) {
		n.log.Warn("validator cut as absent: the others go on without it until it is back", "epoch", c.Header.Epoch,
			"absent", n.g.Validators[k].Name, "stream_closed_at_seq", c.Header.Cut[k])
	}
}

// boundaryOf is when h's snapshot began (checkpoint.EpochStart), from the
// previous checkpoint in the store; h's own time when that is missing.
func (n *Node) boundaryOf(h checkpoint.Header) time.Time {
	prev := checkpoint.Header{Epoch: 0, TimeMs: n.g.GenesisTimeMs}
	if h.Epoch > 1 {
		raw, err := n.st.Checkpoint(h.Epoch - 1)
		if err != nil {
			return time.UnixMilli(h.TimeMs)
		}
		if prev, err = checkpoint.DecodeHeader(raw); err != nil {
			return time.UnixMilli(h.TimeMs)
		}
	}
	return time.UnixMilli(checkpoint.EpochStart(n.g, prev, h))
}

// publishView publishes the loop's summary for API reads when it changed,
// and at least every viewRefresh (the peer count). It runs after the shell
// carried out its effects, so everything the view names is committed.
func (n *Node) publishView() error {
	m := n.sh.Machine()
	head, hash := m.Head()
	old := n.view.Load()
	now := n.now()
	if old != nil && old.headHash == hash && old.lastFinal == m.LastFinal() && old.epoch == m.CurrentEpoch() &&
		old.halted == m.Halted() && now.Sub(n.peersAt) < viewRefresh {
		return nil
	}
	// Counting peers maps each peer ID to its address (a public key
	// decompression and a hash): refreshed a few times a second only.
	if old == nil || now.Sub(n.peersAt) >= viewRefresh {
		n.peers, n.peersAt = len(n.net.Validators()), now
	}
	v := &view{head: head, headHash: hash, lastFinal: m.LastFinal(), epoch: m.CurrentEpoch(),
		peers: n.peers, halted: m.Halted()}
	switch {
	case old != nil && old.lastFinal == v.lastFinal:
		v.finalHash, v.finalRoot, v.finalChange = old.finalHash, old.finalRoot, old.finalChange
	case v.lastFinal > 0:
		h, err := n.header(v.lastFinal)
		if err != nil {
			return fmt.Errorf("read final checkpoint %d for the API view: %w", v.lastFinal, err)
		}
		v.finalHash, v.finalRoot, v.finalChange = h.Hash(), h.StateRoot, make(chan struct{})
	default:
		v.finalHash, v.finalRoot, v.finalChange = n.genHash, n.genesisRoot(), make(chan struct{})
	}
	n.view.Store(v)
	if old != nil && old.finalChange != v.finalChange {
		close(old.finalChange)
	}
	n.mets.observeView(v, n.pool.Queued())
	return nil
}

// viewRefresh is how often the view is republished without a change.
const viewRefresh = 250 * time.Millisecond

// startVerifier checks the transactions of delivered batches on all cores
// while keeping delivery order: a feeder hands each entry's transactions to
// a worker pool and queues a future; an orderer persists each entry while
// its transactions are checked, then waits for the futures in order. Both
// queues are bounded. Persisting here keeps a store write per entry off the
// event loop.
func (n *Node) startVerifier(ctx context.Context, wg *sync.WaitGroup) <-chan verified {
	type job struct {
		raw []byte
		dst *ledger.CheckedTx
		ok  *bool
		wg  *sync.WaitGroup
	}
	type future struct {
		e    stream.Entry
		txs  []ledger.CheckedTx
		oks  []bool
		done *sync.WaitGroup
	}
	jobs := make(chan job, 4096)
	futures := make(chan future, 256)
	out := make(chan verified, 256)
	n.verifyBacklog = func() int { return len(n.net.Deliveries()) + len(futures) + len(out) }
	workers := max(1, runtime.NumCPU())
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for j := range jobs {
				tx, err := ledger.DecodeTx(j.raw)
				if err == nil {
					*j.dst = ledger.CheckTx(tx, n.g.ChainID)
					*j.ok = true
				}
				j.wg.Done()
			}
		})
	}
	// The feeder is the only sender on jobs and futures and closes both; a
	// future is queued only after all its jobs are, so the orderer never
	// waits for a job that was not sent.
	wg.Go(func() {
		defer close(jobs)
		defer close(futures)
		for {
			var e stream.Entry
			select {
			case <-ctx.Done():
				return
			case e = <-n.net.Deliveries():
			}
			f := future{e: e, done: &sync.WaitGroup{}}
			if e.Kind == stream.KindBatch {
				raws, err := stream.DecodeBatch(e.Body)
				if err != nil {
					n.log.Warn("undecodable batch", "origin", e.Origin, "seq", e.Seq, "err", err)
				}
				f.txs = make([]ledger.CheckedTx, len(raws))
				f.oks = make([]bool, len(raws))
				for i, raw := range raws {
					f.done.Add(1)
					select {
					case jobs <- job{raw: raw, dst: &f.txs[i], ok: &f.oks[i], wg: f.done}:
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case futures <- f:
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Go(func() {
		for f := range futures {
			stored := n.st.PutEntry(f.e.Origin, f.e.Seq, f.e.Encode())
			f.done.Wait()
			txs := f.txs[:0]
			for i := range f.oks {
				if f.oks[i] { // undecodable transactions are left out, identically everywhere
					txs = append(txs, f.txs[i])
				}
			}
			select {
			case out <- verified{e: f.e, txs: txs, stored: stored}:
			case <-ctx.Done():
				return
			}
		}
	})
	return out
}
