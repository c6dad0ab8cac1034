package node

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// TestStoreMetrics: the store trimmer's counters reach the registry at
// scrape time.
func TestStoreMetrics(t *testing.T) {
	g := &ledger.Genesis{ChainID: "m", Validators: []ledger.Validator{{Name: "v0", Address: common.Address{1}}}}
	m := newMetrics(g, 0)
	stats := store.TrimStats{Runs: 7, MappedBytes: 64 << 20, ResidentBytes: 3 << 20, Time: 1500 * time.Millisecond}
	m.registerStore(func() store.TrimStats { return stats })
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"ledgerd_store_trims_total":                7,
		"ledgerd_store_trim_seconds_total":         1.5,
		"ledgerd_store_mapped_bytes":               64 << 20,
		"ledgerd_store_resident_before_trim_bytes": 3 << 20,
	}
	for _, mf := range mfs {
		w, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		delete(want, mf.GetName())
		mt := mf.GetMetric()[0]
		got := mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		if got != w {
			t.Errorf("%s = %v, want %v", mf.GetName(), got, w)
		}
	}
	for name := range want {
		t.Errorf("%s not exported", name)
	}
}
