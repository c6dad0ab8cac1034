package checkpoint

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// testNet is a minimal in-order, lossless network of Machines used by the
// unit tests below; the seeded simulator in checkpointtest adds faults.
type testNet struct {
	t        *testing.T
	g        *ledger.Genesis
	keys     []*ecdsa.PrivateKey
	client   *ecdsa.PrivateKey
	ms       []*Machine
	inbox    [][]stream.Entry // per destination, FIFO
	votes    [][]Vote
	rounds   [][]RoundMsg
	final    []map[uint64]Certified
	nonce    uint64
	executed []map[uint64]EpochResult
}

func testKey(seed string) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte(seed)))
	if err != nil {
		panic(err)
	}
	return k
}

func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	tn := &testNet{t: t, client: testKey("client")}
	g := &ledger.Genesis{ChainID: "test-chain", GenesisTimeMs: 1_000_000, EpochLengthMs: 1000, MaxEpochTxs: 100_000, FeeCollector: ledger.Address{0xfe},
		Alloc: []ledger.Alloc{{Address: crypto.PubkeyToAddress(tn.client.PublicKey), Balance: 1_000_000}}}
	for i := 0; i < n; i++ {
		k := testKey(fmt.Sprintf("validator-%d", i))
		tn.keys = append(tn.keys, k)
		g.Validators = append(g.Validators, ledger.Validator{Name: fmt.Sprintf("v%d", i),
			Address: crypto.PubkeyToAddress(k.PublicKey), PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1})
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	tn.g = g
	for i := 0; i < n; i++ {
		st, err := ledger.GenesisState(g, ledger.NewMemNodeDB())
		if err != nil {
			t.Fatal(err)
		}
		m, err := newMachine(DefaultConfig(g, uint32(i)), restore{State: st}, KeySigner{tn.keys[i]})
		if err != nil {
			t.Fatal(err)
		}
		tn.ms = append(tn.ms, m)
	}
	tn.inbox = make([][]stream.Entry, n)
	tn.votes = make([][]Vote, n)
	tn.rounds = make([][]RoundMsg, n)
	tn.final = make([]map[uint64]Certified, n)
	tn.executed = make([]map[uint64]EpochResult, n)
	for i := range tn.final {
		tn.final[i] = map[uint64]Certified{}
		tn.executed[i] = map[uint64]EpochResult{}
	}
	return tn
}

func (tn *testNet) transfer(amount uint64) ledger.CheckedTx {
	tx := ledger.Tx{ChainID: tn.g.ChainID, To: tn.g.Validators[0].Address, Amount: amount, Nonce: tn.nonce}
	tn.nonce++
	if err := tx.Sign(tn.client); err != nil {
		tn.t.Fatal(err)
	}
	return ledger.CheckTx(tx, tn.g.ChainID)
}

// flush carries out every machine's Ready until the network is quiet.
func (tn *testNet) flush() {
	for progress := true; progress; {
		progress = false
		for i, m := range tn.ms {
			if !m.hasReady() {
				continue
			}
			progress = true
			rd := m.ready()
			for _, e := range rd.Entries {
				for j := range tn.ms {
					if j != i {
						tn.inbox[j] = append(tn.inbox[j], e)
					}
				}
			}
			for _, v := range rd.Votes {
				for j := range tn.ms {
					if j != i {
						tn.votes[j] = append(tn.votes[j], v)
					}
				}
			}
			for _, r := range rd.Rounds {
				for j := range tn.ms {
					if j != i {
						tn.rounds[j] = append(tn.rounds[j], r)
					}
				}
			}
			for _, r := range rd.Epochs {
				tn.executed[i][r.Header.Epoch] = r
			}
			for _, c := range rd.Finalized {
				tn.final[i][c.Header.Epoch] = c
			}
			if len(rd.Divergences) > 0 {
				tn.t.Fatalf("node %d diverged: %+v", i, rd.Divergences)
			}
			m.advance(rd)
		}
		for j, m := range tn.ms {
			for len(tn.inbox[j]) > 0 {
				progress = true
				e := tn.inbox[j][0]
				tn.inbox[j] = tn.inbox[j][1:]
				if err := m.deliver(e, tn.checkBatch(e)); err != nil {
					tn.t.Fatalf("node %d deliver %d/%d: %v", j, e.Origin, e.Seq, err)
				}
			}
			for len(tn.rounds[j]) > 0 {
				progress = true
				r := tn.rounds[j][0]
				tn.rounds[j] = tn.rounds[j][1:]
				if _, err := m.stepRound(r); err != nil && !errors.Is(err, ErrVoteOutOfWindow) {
					tn.t.Fatalf("node %d round message: %v", j, err)
				}
			}
			for len(tn.votes[j]) > 0 {
				progress = true
				v := tn.votes[j][0]
				tn.votes[j] = tn.votes[j][1:]
				if err := m.stepVote(v); err != nil && !errors.Is(err, ErrVoteOutOfWindow) {
					tn.t.Fatalf("node %d vote: %v", j, err)
				}
			}
		}
	}
}

func (tn *testNet) checkBatch(e stream.Entry) []ledger.CheckedTx {
	if e.Kind != stream.KindBatch {
		return nil
	}
	raw, err := stream.DecodeBatch(e.Body)
	if err != nil {
		tn.t.Fatal(err)
	}
	out := make([]ledger.CheckedTx, 0, len(raw))
	for _, b := range raw {
		tx, err := ledger.DecodeTx(b)
		if err != nil {
			continue
		}
		out = append(out, ledger.CheckTx(tx, tn.g.ChainID))
	}
	return out
}

func (tn *testNet) tick(nowMs int64) {
	for i, m := range tn.ms {
		if err := m.tick(nowMs); err != nil {
			tn.t.Fatalf("node %d tick: %v", i, err)
		}
	}
	tn.flush()
}

// TestMachineFinalizesIdenticalCheckpoints runs four machines over a
// lossless network: every epoch becomes final at every node with one header,
// the chain verifies offline, and the transfers are applied exactly once.
func TestMachineFinalizesIdenticalCheckpoints(t *testing.T) {
	tn := newTestNet(t, 4)
	now := tn.g.GenesisTimeMs
	for step := 0; step < 40; step++ {
		now += 100
		if step%3 == 0 {
			origin := step % 4
			if err := tn.ms[origin].propose([]ledger.CheckedTx{tn.transfer(5)}); err != nil {
				t.Fatal(err)
			}
		}
		tn.tick(now)
	}
	last := tn.ms[0].LastFinal()
	if last < 3 {
		t.Fatalf("only %d epochs final after 4 s", last)
	}
	var chain []Certified
	for ep := uint64(1); ep <= last; ep++ {
		want := tn.final[0][ep]
		for i := range tn.ms {
			got, ok := tn.final[i][ep]
			if !ok {
				t.Fatalf("node %d did not finalize epoch %d", i, ep)
			}
			if got.Header.Hash() != want.Header.Hash() {
				t.Fatalf("node %d epoch %d hash %s, node 0 has %s", i, ep, got.Header.Hash(), want.Header.Hash())
			}
		}
		// Consistent cut: every recorded position is below the cut.
		for _, v := range want.Certificate.Votes {
			for k, h := range v.Recorded {
				if h >= want.Header.Cut[k] {
					t.Fatalf("epoch %d: validator %d recorded seq %d of %d at or past its cut %d", ep, v.Validator, h, k, want.Header.Cut[k])
				}
			}
		}
		chain = append(chain, want)
	}
	if err := VerifyChain(tn.g, nil, chain); err != nil {
		t.Fatal(err)
	}
	var txs uint64
	for _, c := range chain {
		txs += c.Header.TxCount
	}
	t.Logf("%d epochs final, %d transactions", last, txs)
	acct, err := tn.ms[1].State().Account(crypto.PubkeyToAddress(tn.client.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if acct.Nonce == 0 || acct.Nonce > txs {
		t.Fatalf("client nonce %d after %d final transactions", acct.Nonce, txs)
	}
	// Tampering with a certified header breaks verification.
	chain[0].Header.TxCount++
	if err := VerifyChain(tn.g, nil, chain); !errors.Is(err, ErrHeaderHashDiffer) {
		t.Fatalf("VerifyChain(tampered) = %v, want ErrHeaderHashDiffer", err)
	}
}

func TestEpochStart(t *testing.T) {
	g := &ledger.Genesis{GenesisTimeMs: 10_000, EpochLengthMs: 1000}
	hdr := func(epoch uint64, timeMs int64) Header { return Header{Epoch: epoch, TimeMs: timeMs} }
	tests := []struct {
		name     string
		prev, h  Header
		sched    int64
		wantFrom int64
	}{
		{"first epoch", hdr(0, 0), hdr(1, 11_002), 11_000, 11_000},
		{"median recorded a tick before the grid", hdr(4, 13_999), hdr(5, 14_999), 15_000, 14_999},
		{"steady state", hdr(4, 14_001), hdr(5, 15_003), 15_000, 15_000},
		{"early start at the tx bound", hdr(4, 14_000), hdr(5, 14_400), 15_000, 14_400},
		{"after a network-wide pause", hdr(4, 14_000), hdr(5, 90_001), 15_000, 15_000},
		{"restart on the grid", hdr(5, 90_001), hdr(6, 91_000), 91_000, 91_000},
	}
	for _, tt := range tests {
		if got := ScheduledBoundary(g, tt.prev); got != tt.sched {
			t.Errorf("%s: ScheduledBoundary = %d, want %d", tt.name, got, tt.sched)
		}
		if got := EpochStart(g, tt.prev, tt.h); got != tt.wantFrom {
			t.Errorf("%s: EpochStart = %d, want %d", tt.name, got, tt.wantFrom)
		}
	}
}
