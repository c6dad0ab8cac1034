package p2p

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNotSecp256k1 means a peer ID does not embed a secp256k1 key, so it
// cannot belong to a validator.
var ErrNotSecp256k1 = errors.New("p2p: peer ID is not a secp256k1 identity")

// LibP2PKey converts a go-ethereum key into the libp2p identity with the
// same 32 secret bytes (never KeyPairFromStdKey, which yields another
// key type and so another peer ID: docs/p2p.md).
func LibP2PKey(key *ecdsa.PrivateKey) (lpcrypto.PrivKey, error) {
	if key == nil {
		return nil, errors.New("p2p: nil key")
	}
	return lpcrypto.UnmarshalSecp256k1PrivateKey(crypto.FromECDSA(key))
}

// PeerIDFromKey returns the peer ID of the host that uses key.
func PeerIDFromKey(key *ecdsa.PrivateKey) (peer.ID, error) {
	k, err := LibP2PKey(key)
	if err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(k)
}

// AddressFromPeerID recovers the go-ethereum address of a secp256k1 peer ID.
func AddressFromPeerID(id peer.ID) (common.Address, error) {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrNotSecp256k1, err)
	}
	if pub.Type() != lpcrypto.Secp256k1 {
		return common.Address{}, ErrNotSecp256k1
	}
	raw, err := pub.Raw()
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrNotSecp256k1, err)
	}
	p, err := crypto.DecompressPubkey(raw)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrNotSecp256k1, err)
	}
	return crypto.PubkeyToAddress(*p), nil
}

func addressOfKey(key *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(key.PublicKey) }

// PeerIDFromPublicKey returns the peer ID of the host whose validator key
// has public key pub (e.g. a genesis validator's), so an address and a peer
// ID can be checked against each other without the secret key.
func PeerIDFromPublicKey(pub *ecdsa.PublicKey) (peer.ID, error) {
	if pub == nil {
		return "", errors.New("p2p: nil public key")
	}
	k, err := lpcrypto.UnmarshalSecp256k1PublicKey(crypto.CompressPubkey(pub))
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(k)
}
