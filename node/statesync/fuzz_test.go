package statesync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
)

func fuzzGenesis(t testing.TB) *ledger.Genesis {
	k, err := crypto.ToECDSA(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	g := &ledger.Genesis{ChainID: "fuzz", GenesisTimeMs: 1, EpochLengthMs: 1000, MaxEpochTxs: 10, FeeCollector: ledger.Address{1},
		Validators: []ledger.Validator{{Name: "v0", Address: crypto.PubkeyToAddress(k.PublicKey), PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1}},
		Alloc:      []ledger.Alloc{{Address: ledger.Address{2}, Balance: 5}}}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	return g
}

// FuzzReadStateFile: arbitrary input is refused with ErrStateFile (a file
// that verifies would need a quorum signature), never a panic.
func FuzzReadStateFile(f *testing.F) {
	g := fuzzGenesis(f)
	gh := g.Hash()
	head := append([]byte(stateFileMagic), gh[:]...)
	f.Add(head)
	f.Add(binary.BigEndian.AppendUint64(bytes.Clone(head), 1))
	f.Add(append(binary.BigEndian.AppendUint64(bytes.Clone(head), 1), 0, 0, 0, 4, 1, 2, 3, 4))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ReadStateFile(g, bytes.NewReader(b)); !errors.Is(err, ErrStateFile) {
			t.Fatalf("accepted or wrong error: %v", err)
		}
	})
}

// FuzzDecodeCheckpointsResponse: no panic, and a decoded answer re-encodes
// within the input's size.
func FuzzDecodeCheckpointsResponse(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 3, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0, 1, 9})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, list, err := decodeCheckpointsResponse(b)
		if err == nil && len(list) > len(b) {
			t.Fatalf("%d records from %d bytes", len(list), len(b))
		}
	})
}

func TestNextAddress(t *testing.T) {
	a, ok := nextAddress(ledger.Address{19: 0xff})
	if !ok || a != (ledger.Address{18: 1}) {
		t.Fatalf("got %x %v", a, ok)
	}
	var max ledger.Address
	for i := range max {
		max[i] = 0xff
	}
	if _, ok := nextAddress(max); ok {
		t.Fatal("overflow not reported")
	}
}
