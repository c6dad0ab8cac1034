package p2p

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// benchCluster starts four validators on loopback and waits for the mesh.
func benchCluster(b *testing.B) *cluster {
	// Production timings: test timings (50 ms gap timeout) repair entries
	// that are merely queued behind a large burst, doubling the traffic.
	c := newCluster(b, 4, func(_ int, cfg *Config) {
		d := DefaultConfig()
		cfg.GapTimeout, cfg.StatusInterval, cfg.RepairTimeout = d.GapTimeout, d.StatusInterval, d.RepairTimeout
	})
	for i := range 4 {
		c.start(i, nil)
	}
	c.waitMesh(3)
	return c
}

// BenchmarkDelivery4Hosts measures ordered, deduplicated delivery to every
// host: each of 4 origins publishes batches of 200-byte transactions as
// fast as it can; the clock stops when every host has delivered every
// other origin's entries. tx/s counts every published transaction once
// (each reached all three other hosts).
func BenchmarkDelivery4Hosts(b *testing.B) {
	const batchTxs, txBytes = 250, 200
	c := benchCluster(b)
	defer c.close()
	boxes := make([]*outbox, 4)
	for i := range boxes {
		boxes[i] = newOutbox(c.keys[i], uint32(i), 50)
	}
	perOrigin := max(b.N/(4*batchTxs), 1)
	txs := txsOf(batchTxs, txBytes, 1)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range perOrigin {
				e := boxes[i].next(b, txs)
				c.srcs[i].put(e)
				if err := c.nodes[i].net.Publish(e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := make([]int, 4)
	for i := range want {
		want[i] = len(boxes[i].all)
	}
	for i := range 4 {
		if err := c.waitAll(i, want, 120*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	for i := range 4 {
		c.checkExact(i, boxes)
		if testing.Verbose() {
			b.Logf("node %d stats %+v", i, c.nodes[i].net.Stats())
		}
	}
	total := float64(4 * perOrigin * batchTxs)
	b.ReportMetric(total/elapsed.Seconds(), "tx/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLatency5k offers 5,000 tx/s in total (1,250 per origin, a batch
// cut every 10 ms) for 3 s and reports the publish-to-delivery latency of
// entries over all (origin, receiver) pairs. Run with -benchtime=1x.
func BenchmarkLatency5k(b *testing.B) {
	const txBytes, cut, perOriginRate = 200, 10 * time.Millisecond, 1250
	const runFor = 3 * time.Second
	c := benchCluster(b)
	defer c.close()
	boxes := make([]*outbox, 4)
	for i := range boxes {
		boxes[i] = newOutbox(c.keys[i], uint32(i), 100)
	}
	var mu sync.Mutex
	pubAt := make(map[[2]uint64]time.Time)
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				tick := time.NewTicker(cut)
				defer tick.Stop()
				// Like a mempool batcher: cut whatever arrived since the
				// last cut, so a late tick makes a bigger batch, not a
				// lower offered rate.
				begin := time.Now()
				end := begin.Add(runFor)
				offered := 0
				for k := 0; time.Now().Before(end); k++ {
					<-tick.C
					due := int(time.Since(begin).Seconds()*perOriginRate) - offered
					if due <= 0 {
						continue
					}
					offered += due
					e := boxes[i].next(b, txsOf(due, txBytes, uint64(k)))
					c.srcs[i].put(e)
					mu.Lock()
					pubAt[[2]uint64{uint64(i), e.Seq}] = time.Now()
					mu.Unlock()
					if err := c.nodes[i].net.Publish(e); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	want := make([]int, 4)
	for i := range want {
		want[i] = len(boxes[i].all)
	}
	for i := range 4 {
		if err := c.waitAll(i, want, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if testing.Verbose() {
		for i := range 4 {
			b.Logf("node %d stats %+v", i, c.nodes[i].net.Stats())
		}
	}
	var lat []time.Duration
	for r, nd := range c.nodes {
		nd.mu.Lock()
		for key, at := range nd.at {
			if int(key[0]) != r {
				lat = append(lat, at.Sub(pubAt[key]))
			}
		}
		nd.mu.Unlock()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(0, "ns/op")
}
