package statesync

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// roundsNet answers KindRounds from a fixed map of epoch → messages.
type roundsNet struct{ held map[uint64][][]byte }

func (f roundsNet) Validators() []uint32 { return []uint32{1, 2} }

func (f roundsNet) Request(_ context.Context, _ uint32, kind byte, payload []byte) ([]byte, error) {
	if kind != KindRounds || len(payload) != 8 {
		return nil, errors.New("unexpected request")
	}
	return stream.EncodeList(f.held[binary.BigEndian.Uint64(payload)]), nil
}

func (roundsNet) Handle(byte, Handler) error { return nil }

// TestRecoverOwnRounds: a wiped validator gets back, from what its peers
// hold, the round messages it signed before the wipe (and only those:
// not the peers' own, not one with a bad signature, not one outside the
// epochs asked), so its restored agreements never sign a second message.
func TestRecoverOwnRounds(t *testing.T) {
	keys := make([]*ecdsa.PrivateKey, 4)
	g := &ledger.Genesis{ChainID: "rounds-test", GenesisTimeMs: 1_000_000, EpochLengthMs: 1000, MaxEpochTxs: 100}
	for i := range keys {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		g.Validators = append(g.Validators, ledger.Validator{Name: "v", Address: crypto.PubkeyToAddress(k.PublicKey),
			PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1})
	}
	sign := func(m checkpoint.RoundMsg, by int) []byte {
		sig, err := checkpoint.KeySigner{Key: keys[by]}.Sign(m.Digest(g.ChainID))
		if err != nil {
			t.Fatal(err)
		}
		m.Sig = sig
		return m.Encode()
	}
	const self, after = 3, 10
	msg := func(ep uint64, round uint32, kind checkpoint.RoundKind, from uint32) checkpoint.RoundMsg {
		return checkpoint.RoundMsg{Kind: kind, Epoch: ep, Round: round, Validator: from, ValidRound: -1}
	}
	own1 := sign(msg(after+1, 0, checkpoint.Prevote, self), self)
	own2 := sign(msg(after+2, 1, checkpoint.Precommit, self), self)
	forged := msg(after+2, 2, checkpoint.Prevote, self)
	badSig := sign(forged, 0) // claims validator 3, signed by 0
	peer := sign(msg(after+1, 0, checkpoint.Prevote, 1), 1)
	early := sign(msg(after, 0, checkpoint.Prevote, self), self)
	net := roundsNet{held: map[uint64][][]byte{after: {early}, after + 1: {own1, peer}, after + 2: {own2, badSig, {0xff}}}}
	st, err := store.Open(t.TempDir(), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &Service{G: g, Self: self, Store: st, Net: net}
	if err := s.recoverOwnRounds(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	for ep, want := range map[uint64][][]byte{after: nil, after + 1: {own1}, after + 2: {own2}} {
		got, err := st.Rounds(ep)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || (len(want) == 1 && string(got[0]) != string(want[0])) {
			t.Fatalf("epoch %d: stored %d round messages, want %d (own, well signed, in the epochs asked)", ep, len(got), len(want))
		}
	}
}
