package ledger

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Address is a 20-byte account address (go-ethereum's common.Address),
// serialized in JSON as 0x-hex.
type Address = common.Address

// Hash is a 32-byte Keccak-256 digest (go-ethereum's common.Hash).
type Hash = common.Hash

// keccak returns the Keccak-256 digest of the concatenated inputs.
func keccak(data ...[]byte) Hash {
	return crypto.Keccak256Hash(data...)
}

// validChainID reports whether id is a well-formed chain ID: 1 to
// MaxChainIDLen bytes of [A-Za-z0-9._-]. The restriction keeps chain IDs safe
// to print in logs, file names and URLs.
func validChainID(id string) bool {
	if len(id) == 0 || len(id) > MaxChainIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
