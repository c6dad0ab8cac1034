package checkpoint

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
)

// fuzzGenesis is a 4-validator genesis whose validator i signs with
// testKey("validator-i"), for the vote and certificate fuzzers.
func fuzzGenesis(f *testing.F) *ledger.Genesis {
	g := &ledger.Genesis{ChainID: "test-chain", GenesisTimeMs: 1_000_000, EpochLengthMs: 1000, MaxEpochTxs: 100_000, FeeCollector: ledger.Address{0xfe}}
	for i := range 4 {
		k := testKey(fmt.Sprintf("validator-%d", i))
		g.Validators = append(g.Validators, ledger.Validator{Name: fmt.Sprintf("v%d", i),
			Address: crypto.PubkeyToAddress(k.PublicKey), PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1})
	}
	if err := g.Validate(); err != nil {
		f.Fatal(err)
	}
	return g
}

// fuzzVote is validator i's signed vote for h.
func fuzzVote(f *testing.F, g *ledger.Genesis, h *Header, i uint32) Vote {
	v := Vote{Epoch: h.Epoch, Hash: h.Hash(), Validator: i, Recorded: []uint64{1, 2, 3, 4}, RecordedTimeMs: h.TimeMs}
	sig, err := KeySigner{testKey(fmt.Sprintf("validator-%d", i))}.Sign(v.Digest(g.ChainID))
	if err != nil {
		f.Fatal(err)
	}
	v.Sig = sig
	return v
}

func fuzzHeader() Header {
	return Header{ChainID: "test-chain", Epoch: 7, PrevHash: ledger.Hash{1}, Cut: []uint64{3, 5, 8, 13},
		Chain: []ledger.Hash{{6}, {7}, {8}, {9}}, Marker: []uint64{7, 7, 5, 7},
		TxRoot: ledger.Hash{2}, ReceiptsRoot: ledger.Hash{3}, StateRoot: ledger.Hash{4}, TxCount: 9, ValidatorSetHash: ledger.Hash{5}, TimeMs: 1_007_000}
}

// Headers, votes and certificates arrive from peers (gossiped votes, the
// sync protocol's checkpoint and certificate answers) and from the API's
// clients: decoding any bytes must fail cleanly or round-trip exactly.

func FuzzDecodeHeader(f *testing.F) {
	h := fuzzHeader()
	f.Add(h.Encode())
	f.Add((&Header{ChainID: "x"}).Encode())
	f.Add([]byte{})
	f.Add([]byte{HeaderVersion, 0})
	f.Add([]byte{HeaderVersion, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if got := h.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("Encode(DecodeHeader(%x)) = %x", b, got)
		}
		_ = h.Hash()
	})
}

func FuzzDecodeVote(f *testing.F) {
	g := fuzzGenesis(f)
	h := fuzzHeader()
	v := fuzzVote(f, g, &h, 1)
	f.Add(v.Encode())
	f.Add((&Vote{}).Encode())
	f.Add([]byte{})
	f.Add(make([]byte, 8+32+4+2))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeVote(b)
		if err != nil {
			return
		}
		if got := v.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("Encode(DecodeVote(%x)) = %x", b, got)
		}
		_ = v.Verify(g) // any decoded vote: an error or nil, never a panic
	})
}

func FuzzDecodeCertificate(f *testing.F) {
	g := fuzzGenesis(f)
	h := fuzzHeader()
	c := Certificate{Epoch: h.Epoch, Hash: h.Hash()}
	for i := range uint32(3) {
		c.Votes = append(c.Votes, fuzzVote(f, g, &h, i))
	}
	if err := c.Verify(g); err != nil {
		f.Fatalf("the seed certificate does not verify: %v", err)
	}
	f.Add(c.Encode())
	f.Add((&Certificate{}).Encode())
	f.Add([]byte{})
	f.Add(append(make([]byte, 8+32), 0, 1, 0xff, 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCertificate(b)
		if err != nil {
			return
		}
		if got := c.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("Encode(DecodeCertificate(%x)) = %x", b, got)
		}
		_ = c.Verify(g)
	})
}

func FuzzDecodeRoundMsg(f *testing.F) {
	g := fuzzGenesis(f)
	h := fuzzHeader()
	for _, m := range []RoundMsg{
		{Kind: Prevote, Epoch: 7, Round: 0, Validator: 1, ValidRound: -1, Value: h.Value()},
		{Kind: Precommit, Epoch: 7, Round: 3, Validator: 2, ValidRound: -1},
		{Kind: Proposal, Epoch: 7, Round: 2, Validator: 1, ValidRound: 1, Value: h.Value()},
	} {
		sig, err := KeySigner{testKey(fmt.Sprintf("validator-%d", m.Validator))}.Sign(m.Digest(g.ChainID))
		if err != nil {
			f.Fatal(err)
		}
		m.Sig = sig
		if err := m.Verify(g); err != nil {
			f.Fatalf("seed %v does not verify: %v", m.Kind, err)
		}
		f.Add(m.Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeRoundMsg(b)
		if err != nil {
			return
		}
		if got := m.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("Encode(DecodeRoundMsg(%x)) = %x", b, got)
		}
		_ = m.Verify(g)
	})
}
