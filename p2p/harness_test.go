package p2p

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
)

const testChainID = "ledgerd-p2p-test"

// memSource is an in-memory EntrySource: the node's store of its own
// outbox and every delivered entry.
type memSource struct {
	mu      sync.Mutex
	entries map[uint32]map[uint64][]byte
}

func newMemSource() *memSource { return &memSource{entries: make(map[uint32]map[uint64][]byte)} }

func (m *memSource) put(e stream.Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[e.Origin] == nil {
		m.entries[e.Origin] = make(map[uint64][]byte)
	}
	m.entries[e.Origin][e.Seq] = e.Encode()
}

func (m *memSource) Entries(origin uint32, from, to uint64, maxBytes int) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	size := 0
	for s := from; s <= to; s++ {
		b, ok := m.entries[origin][s]
		if !ok || (len(out) > 0 && size+len(b) > maxBytes) {
			break
		}
		out = append(out, b)
		size += len(b)
	}
	return out, nil
}

func testKeys(t testing.TB, n int) []*ecdsa.PrivateKey {
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte("p2p-test"), []byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	return keys
}

func freePorts(t testing.TB, n int) []int {
	ports, err := FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// node is one Network under test plus what it delivered.
type node struct {
	net  *Network
	src  *memSource
	mu   sync.Mutex
	got  map[uint32][]stream.Entry
	at   map[[2]uint64]time.Time // (origin, seq) -> delivery time
	done chan struct{}
}

func (nd *node) collect() {
	defer close(nd.done)
	for {
		select {
		case e := <-nd.net.Deliveries():
			nd.src.put(e)
			nd.mu.Lock()
			nd.got[e.Origin] = append(nd.got[e.Origin], e)
			if nd.at != nil {
				nd.at[[2]uint64{uint64(e.Origin), e.Seq}] = time.Now()
			}
			nd.mu.Unlock()
		case <-nd.net.ctx.Done():
			return
		}
	}
}

func (nd *node) count(origin uint32) int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return len(nd.got[origin])
}

type cluster struct {
	t     testing.TB
	keys  []*ecdsa.PrivateKey
	ports []int
	vals  []ValidatorInfo
	nodes []*node
	srcs  []*memSource
	tweak func(i int, c *Config)
}

func newCluster(t testing.TB, n int, tweak func(i int, c *Config)) *cluster {
	c := &cluster{t: t, keys: testKeys(t, n), ports: freePorts(t, n), tweak: tweak}
	for i, k := range c.keys {
		id, err := PeerIDFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		c.vals = append(c.vals, ValidatorInfo{Address: crypto.PubkeyToAddress(k.PublicKey),
			Addr: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", c.ports[i], id)})
		c.srcs = append(c.srcs, newMemSource())
	}
	c.nodes = make([]*node, n)
	return c
}

func (c *cluster) config(i int) Config {
	cfg := testConfig()
	cfg.ChainID = testChainID
	cfg.Key = c.keys[i]
	cfg.Validators = c.vals
	cfg.Self = i
	cfg.ListenAddrs = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", c.ports[i])}
	if c.tweak != nil {
		c.tweak(i, &cfg)
	}
	return cfg
}

// start starts node i with its streams at start (nil: every origin from
// seq 1).
func (c *cluster) start(i int, start []stream.OriginStart) {
	c.t.Helper()
	n, err := New(context.Background(), c.config(i), c.srcs[i])
	if err != nil {
		c.t.Fatalf("node %d: %v", i, err)
	}
	if start == nil {
		start = make([]stream.OriginStart, len(c.vals))
	}
	if err := n.Start(start); err != nil {
		c.t.Fatalf("node %d: start: %v", i, err)
	}
	nd := &node{net: n, src: c.srcs[i], got: make(map[uint32][]stream.Entry), at: make(map[[2]uint64]time.Time), done: make(chan struct{})}
	c.nodes[i] = nd
	go nd.collect()
}

func (c *cluster) stop(i int) {
	if nd := c.nodes[i]; nd != nil {
		nd.net.Close()
		<-nd.done
	}
}

func (c *cluster) close() {
	for i := range c.nodes {
		c.stop(i)
	}
}

// waitMesh waits until every running node sees want peers on the entries topic.
func (c *cluster) waitMesh(want int) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range c.nodes {
		for nd != nil && len(nd.net.entries.ListPeers()) < want {
			if time.Now().After(deadline) {
				c.t.Fatalf("mesh not formed: %d peers, want %d", len(nd.net.entries.ListPeers()), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// outbox produces one origin's signed entries: batches with a marker after
// every markerEvery batches, epoch tags per the stream contract.
type outbox struct {
	key    *ecdsa.PrivateKey
	origin uint32
	seq    uint64
	epoch  uint64
	batch  int
	every  int
	all    []stream.Entry
}

func newOutbox(key *ecdsa.PrivateKey, origin uint32, every int) *outbox {
	return &outbox{key: key, origin: origin, epoch: 1, every: every}
}

func (o *outbox) next(t testing.TB, txs [][]byte) stream.Entry {
	o.seq++
	e := stream.Entry{Origin: o.origin, Seq: o.seq, Epoch: o.epoch, Kind: stream.KindBatch, Body: stream.EncodeBatch(txs)}
	if o.batch == o.every {
		e.Kind, e.Body = stream.KindMarker, stream.EncodeMarker(stream.Marker{Epoch: o.epoch, TimeMs: int64(o.seq)})
		o.epoch++
		o.batch = 0
	} else {
		o.batch++
	}
	if err := e.Sign(testChainID, o.key); err != nil {
		t.Fatal(err)
	}
	o.all = append(o.all, e)
	return e
}

func txsOf(n, size int, tag uint64) [][]byte {
	txs := make([][]byte, n)
	for i := range txs {
		tx := make([]byte, size)
		tx[0], tx[1], tx[2] = byte(tag), byte(tag>>8), byte(i)
		txs[i] = tx
	}
	return txs
}

// waitAll waits until node i delivered want entries from every origin but itself.
func (c *cluster) waitAll(i int, want []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for o, w := range want {
			if o != i && c.nodes[i].count(uint32(o)) < w {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			var have []int
			for o := range want {
				have = append(have, c.nodes[i].count(uint32(o)))
			}
			return fmt.Errorf("node %d delivered %v, want %v; stats %+v", i, have, want, c.nodes[i].net.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkExact asserts node i delivered exactly outboxes' entries, in order,
// once each, from every origin but itself.
func (c *cluster) checkExact(i int, boxes []*outbox) {
	c.t.Helper()
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	for o, box := range boxes {
		if o == i {
			if len(nd.got[uint32(o)]) != 0 {
				c.t.Fatalf("node %d delivered its own entries without DeliverOwn", i)
			}
			continue
		}
		got := nd.got[uint32(o)]
		if len(got) != len(box.all) {
			c.t.Fatalf("node %d: origin %d delivered %d entries, published %d", i, o, len(got), len(box.all))
		}
		for k, e := range got {
			w := box.all[k]
			if e.Seq != w.Seq || e.Epoch != w.Epoch || e.Kind != w.Kind || e.Sig != w.Sig {
				c.t.Fatalf("node %d: origin %d position %d = seq %d epoch %d %v; want seq %d epoch %d %v",
					i, o, k, e.Seq, e.Epoch, e.Kind, w.Seq, w.Epoch, w.Kind)
			}
		}
	}
}

// testConfig is DefaultConfig with loopback listening and short timings.
func testConfig() Config {
	c := DefaultConfig()
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	c.GapTimeout = 50 * time.Millisecond
	c.StatusInterval = 100 * time.Millisecond
	c.RepairTimeout = time.Second
	c.ReconnectInterval = 100 * time.Millisecond
	return c
}
