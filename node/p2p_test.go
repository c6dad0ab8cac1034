package node

import (
	"crypto/ecdsa"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
)

// TestConsensusValidator: gossip forwards only votes and round messages
// that decode and are signed by the validator they name.
func TestConsensusValidator(t *testing.T) {
	keys := make([]*ecdsa.PrivateKey, 4)
	g := &ledger.Genesis{ChainID: "gossip-test", GenesisTimeMs: 1_000_000, EpochLengthMs: 1000, MaxEpochTxs: 100}
	for i := range keys {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		g.Validators = append(g.Validators, ledger.Validator{Name: "v", Address: crypto.PubkeyToAddress(k.PublicKey),
			PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1})
	}
	check := consensusValidator(g)
	vote := func(claims, signer int) []byte {
		v := checkpoint.Vote{Epoch: 7, Hash: ledger.Hash{7}, Validator: uint32(claims), Recorded: make([]uint64, 4)}
		sig, err := checkpoint.KeySigner{Key: keys[signer]}.Sign(v.Digest(g.ChainID))
		if err != nil {
			t.Fatal(err)
		}
		v.Sig = sig
		return encodeConsensus(consensusVote, v.Encode())
	}
	round := func(claims, signer int) []byte {
		m := checkpoint.RoundMsg{Kind: checkpoint.Prevote, Epoch: 7, Validator: uint32(claims), ValidRound: -1}
		sig, err := checkpoint.KeySigner{Key: keys[signer]}.Sign(m.Digest(g.ChainID))
		if err != nil {
			t.Fatal(err)
		}
		m.Sig = sig
		return encodeConsensus(consensusRound, m.Encode())
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"vote", vote(2, 2), true},
		{"round message", round(1, 1), true},
		{"vote signed by another validator", vote(2, 3), false},
		{"round message signed by another validator", round(1, 0), false},
		{"vote of an unknown validator", vote(9, 2), false},
		{"flipped signature byte", func() []byte { b := vote(2, 2); b[len(b)-10] ^= 1; return b }(), false},
		{"unknown kind", append([]byte{9}, vote(2, 2)[1:]...), false},
		{"empty", nil, false},
		{"garbage", []byte{consensusVote, 1, 2, 3}, false},
	} {
		if err := check(tc.msg); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want accepted %v", tc.name, err, tc.ok)
		}
	}
}
