package mempool

import (
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
)

func signed(t *testing.T, chain string, nonce uint64) []byte {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("mempool-test")))
	if err != nil {
		t.Fatal(err)
	}
	tx := ledger.Tx{ChainID: chain, To: ledger.Address{1}, Amount: 1, Nonce: nonce}
	if err := tx.Sign(k); err != nil {
		t.Fatal(err)
	}
	return tx.Encode()
}

// TestPoolSubmit: a valid transaction is admitted once (again: the same
// hash, nothing queued twice); malformed and wrongly signed ones are
// ErrInvalid; a full queue and a lagging node are ErrFull; every outcome is
// counted.
func TestPoolSubmit(t *testing.T) {
	var lag time.Duration
	outcomes := map[string]int{}
	p := New(Config{ChainID: "c", MaxTxs: 2, MaxLag: 300 * time.Millisecond, BatchMaxTxs: 10, BatchInterval: time.Second,
		Lag: func(time.Time) time.Duration { return lag }, Outcome: func(o string) { outcomes[o]++ }})
	now := time.Unix(100, 0)
	h, err := p.Submit(signed(t, "c", 0), now)
	if err != nil {
		t.Fatal(err)
	}
	if h2, err := p.Submit(signed(t, "c", 0), now); err != nil || h2 != h || p.Queued() != 1 {
		t.Fatalf("second submit: %s %v, %d queued", h2, err, p.Queued())
	}
	if !p.Pending(h) {
		t.Fatal("admitted transaction not pending")
	}
	for _, bad := range [][]byte{{1, 2, 3}, signed(t, "other", 1)} {
		if _, err := p.Submit(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad transaction: %v, want ErrInvalid", err)
		}
	}
	lag = 450 * time.Millisecond
	if _, err := p.Submit(signed(t, "c", 1), now); !errors.Is(err, ErrFull) {
		t.Fatalf("lagging: %v, want ErrFull", err)
	}
	lag = 0
	if _, err := p.Submit(signed(t, "c", 1), now); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(signed(t, "c", 2), now); !errors.Is(err, ErrFull) {
		t.Fatalf("third into a queue of 2: %v, want ErrFull", err)
	}
	want := map[string]int{"accepted": 2, "duplicate": 1, "malformed": 1, "wrong_chain": 1, "lagging": 1, "mempool_full": 1}
	for o, n := range want {
		if outcomes[o] != n {
			t.Errorf("outcome %s counted %d times, want %d (all: %v)", o, outcomes[o], n, outcomes)
		}
	}
	p.Executed([]ledger.Hash{h})
	if p.Pending(h) {
		t.Fatal("executed transaction still pending")
	}
}

// TestPoolBatching: a batch is due when full or when its first transaction
// waited the interval, and Take starts a new one.
func TestPoolBatching(t *testing.T) {
	p := New(Config{ChainID: "c", MaxTxs: 8, BatchMaxTxs: 3, BatchInterval: 100 * time.Millisecond})
	t0 := time.Unix(100, 0)
	for i := range 2 {
		if _, err := p.Submit(signed(t, "c", uint64(i)), t0); err != nil {
			t.Fatal(err)
		}
	}
	if p.Due(t0.Add(50 * time.Millisecond)) {
		t.Fatal("two transactions due before the interval")
	}
	if !p.Due(t0.Add(100 * time.Millisecond)) {
		t.Fatal("batch not due after the interval")
	}
	if b := p.Take(); len(b) != 2 || p.Queued() != 0 {
		t.Fatalf("took %d, %d left", len(b), p.Queued())
	}
	for i := range 3 {
		if _, err := p.Submit(signed(t, "c", uint64(2+i)), t0); err != nil {
			t.Fatal(err)
		}
	}
	full := false
	for range 3 {
		full = p.Add(<-p.Admitted())
	}
	if !full || !p.Due(t0) || len(p.Take()) != 3 {
		t.Fatal("a full batch is not due at once")
	}
}
