package main

import (
	"sort"
	"testing"
	"time"
)

// TestBenchLoadIsSmooth: at a target rate the workers' batches, taken
// together, arrive at that rate in every window of a tenth of a second, not
// in bursts of every worker's batch at once.
func TestBenchLoadIsSmooth(t *testing.T) {
	for _, c := range []struct {
		nodes, workers, batch int
		rate                  float64
	}{
		{4, 8, 50, 2000},
		{4, 8, 50, 7000},
		{16, 8, 50, 2000},
		{1, 1, 1, 10},
		{3, 5, 7, 333},
	} {
		n := c.nodes * c.workers
		period := sendPeriod(c.rate, n, c.batch)
		start := time.Unix(1_000_000, 0)
		var sends []time.Duration
		for k := 0; k < n; k++ {
			first := firstSend(start, period, k, n)
			if first.Before(start) || !first.Before(start.Add(period)) {
				t.Fatalf("%+v: worker %d starts at %v, outside the first period %v", c, k, first.Sub(start), period)
			}
			for at := first; at.Before(start.Add(10 * time.Second)); at = at.Add(period) {
				sends = append(sends, at.Sub(start))
			}
		}
		sort.Slice(sends, func(i, j int) bool { return sends[i] < sends[j] })
		window := 100 * time.Millisecond
		limit := int(c.rate*window.Seconds()) + c.batch // one batch of rounding
		for i, j := 0, 0; i < len(sends); i++ {
			for sends[i]-sends[j] >= window {
				j++
			}
			if got := (i - j + 1) * c.batch; got > limit {
				t.Fatalf("%+v: %d transactions within %v ending at %v; the rate allows %d", c, got, window, sends[i], limit)
			}
		}
	}
}
