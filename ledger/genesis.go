package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

// Genesis limits.
const (
	// MaxValidators bounds the validator set (validator indexes are uint32;
	// cut vectors and vote sets are sized by it).
	MaxValidators = 1024
	// MaxValidatorNameLen bounds a validator's display name, in bytes.
	MaxValidatorNameLen = 64
	// MaxP2PAddrLen bounds a validator's p2p address hint, in bytes.
	MaxP2PAddrLen = 256
	// MaxGenesisBytes bounds a genesis file accepted by ParseGenesis.
	MaxGenesisBytes = 256 << 20
	// compressedPubKeyLen is the length of a compressed secp256k1 public key.
	compressedPubKeyLen = 33
)

// ErrGenesis is wrapped by every genesis parse or validation error.
var ErrGenesis = errors.New("ledger: invalid genesis")

// GenesisError names the bad field of a genesis file, e.g.
// "validators[2].public_key". It matches ErrGenesis with errors.Is.
type GenesisError struct {
	Field string
	Err   error
}

func (e *GenesisError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("ledger: invalid genesis: %v", e.Err)
	}
	return fmt.Sprintf("ledger: invalid genesis: %s: %v", e.Field, e.Err)
}

// Unwrap returns ErrGenesis and the cause.
func (e *GenesisError) Unwrap() []error { return []error{ErrGenesis, e.Err} }

func genesisErr(field, format string, args ...any) error {
	return &GenesisError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validator is a member of the genesis validator set. Its index is its
// position in Genesis.Validators.
type Validator struct {
	Name      string
	Address   Address
	PublicKey []byte // 33-byte compressed secp256k1 key of Address
	Power     uint64 // voting power, > 0
	P2PAddr   string // libp2p multiaddr hint; not part of the genesis hash
}

// Alloc is an initial balance.
type Alloc struct {
	Address Address
	Balance uint64
}

// Genesis is the chain's founding document. Build one with ParseGenesis, or
// fill the fields and call Validate.
type Genesis struct {
	ChainID       string
	GenesisTimeMs int64  // Unix milliseconds; epoch N ends at GenesisTimeMs + N*EpochLengthMs
	EpochLengthMs uint64 // > 0
	MaxEpochTxs   uint64 // transaction-count bound that ends an epoch early; > 0
	FeeCollector  Address
	Validators    []Validator
	Alloc         []Alloc
}

type validatorJSON struct {
	Name      string  `json:"name"`
	Address   Address `json:"address"`
	PublicKey string  `json:"public_key"`
	Power     uint64  `json:"power"`
	P2PAddr   string  `json:"p2p_addr"`
}

type allocJSON struct {
	Address Address `json:"address"`
	Balance uint64  `json:"balance"`
}

type genesisJSON struct {
	ChainID       string          `json:"chain_id"`
	GenesisTime   string          `json:"genesis_time"`
	EpochLengthMs uint64          `json:"epoch_length_ms"`
	MaxEpochTxs   uint64          `json:"max_epoch_txs"`
	FeeCollector  Address         `json:"fee_collector"`
	Validators    []validatorJSON `json:"validators"`
	Alloc         []allocJSON     `json:"alloc"`
}

// MarshalJSON writes the genesis file format (see docs/ledger.md).
func (g *Genesis) MarshalJSON() ([]byte, error) {
	j := genesisJSON{
		ChainID:       g.ChainID,
		GenesisTime:   time.UnixMilli(g.GenesisTimeMs).UTC().Format(time.RFC3339Nano),
		EpochLengthMs: g.EpochLengthMs,
		MaxEpochTxs:   g.MaxEpochTxs,
		FeeCollector:  g.FeeCollector,
		Validators:    make([]validatorJSON, len(g.Validators)),
		Alloc:         make([]allocJSON, len(g.Alloc)),
	}
	for i, v := range g.Validators {
		j.Validators[i] = validatorJSON{Name: v.Name, Address: v.Address,
			PublicKey: "0x" + hex.EncodeToString(v.PublicKey), Power: v.Power, P2PAddr: v.P2PAddr}
	}
	for i, a := range g.Alloc {
		j.Alloc[i] = allocJSON(a)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the genesis file format strictly: unknown fields,
// trailing data and malformed values are errors. It does not call Validate.
func (g *Genesis) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j genesisJSON
	if err := dec.Decode(&j); err != nil {
		return &GenesisError{Err: fmt.Errorf("json: %w", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &GenesisError{Err: errors.New("json: trailing data after the genesis object")}
	}
	t, err := time.Parse(time.RFC3339Nano, j.GenesisTime)
	if err != nil {
		return genesisErr("genesis_time", "want an RFC 3339 time: %v", err)
	}
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		return genesisErr("genesis_time", "%q has sub-millisecond precision", j.GenesisTime)
	}
	out := Genesis{
		ChainID:       j.ChainID,
		GenesisTimeMs: t.UnixMilli(),
		EpochLengthMs: j.EpochLengthMs,
		MaxEpochTxs:   j.MaxEpochTxs,
		FeeCollector:  j.FeeCollector,
		Validators:    make([]Validator, len(j.Validators)),
		Alloc:         make([]Alloc, len(j.Alloc)),
	}
	for i, v := range j.Validators {
		pk, err := decodeHex(v.PublicKey)
		if err != nil {
			return genesisErr(fmt.Sprintf("validators[%d].public_key", i), "%v", err)
		}
		out.Validators[i] = Validator{Name: v.Name, Address: v.Address, PublicKey: pk, Power: v.Power, P2PAddr: v.P2PAddr}
	}
	for i, a := range j.Alloc {
		out.Alloc[i] = Alloc(a)
	}
	*g = out
	return nil
}

func decodeHex(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		return nil, errors.New("want 0x-prefixed hex")
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return nil, fmt.Errorf("bad hex: %v", err)
	}
	return b, nil
}

// ParseGenesis decodes a genesis file strictly and validates it.
func ParseGenesis(b []byte) (*Genesis, error) {
	if len(b) > MaxGenesisBytes {
		return nil, &GenesisError{Err: fmt.Errorf("file is %d bytes, limit %d", len(b), MaxGenesisBytes)}
	}
	var g Genesis
	if err := json.Unmarshal(b, &g); err != nil {
		if _, ok := errors.AsType[*GenesisError](err); ok {
			return nil, err
		}
		return nil, &GenesisError{Err: fmt.Errorf("json: %w", err)}
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// Validate checks every field and returns a *GenesisError naming the first
// bad one.
func (g *Genesis) Validate() error {
	if g.ChainID == "" {
		return genesisErr("chain_id", "empty")
	}
	if len(g.ChainID) > MaxChainIDLen {
		return genesisErr("chain_id", "%d bytes, limit %d", len(g.ChainID), MaxChainIDLen)
	}
	if !validChainID(g.ChainID) {
		return genesisErr("chain_id", "%q: only [A-Za-z0-9._-] allowed", g.ChainID)
	}
	if g.GenesisTimeMs < 0 {
		return genesisErr("genesis_time", "before 1970")
	}
	if g.EpochLengthMs == 0 {
		return genesisErr("epoch_length_ms", "must be > 0")
	}
	if g.MaxEpochTxs == 0 {
		return genesisErr("max_epoch_txs", "must be > 0")
	}
	if g.FeeCollector == (Address{}) {
		return genesisErr("fee_collector", "zero address (name an account; fees are paid to it)")
	}
	if len(g.Validators) == 0 {
		return genesisErr("validators", "empty")
	}
	if len(g.Validators) > MaxValidators {
		return genesisErr("validators", "%d validators, limit %d", len(g.Validators), MaxValidators)
	}
	addrs := make(map[Address]int, len(g.Validators))
	names := make(map[string]int, len(g.Validators))
	var total uint64
	for i, v := range g.Validators {
		f := fmt.Sprintf("validators[%d]", i)
		if v.Name == "" {
			return genesisErr(f+".name", "empty")
		}
		if len(v.Name) > MaxValidatorNameLen {
			return genesisErr(f+".name", "%d bytes, limit %d", len(v.Name), MaxValidatorNameLen)
		}
		if j, dup := names[v.Name]; dup {
			return genesisErr(f+".name", "%q duplicates validators[%d]", v.Name, j)
		}
		names[v.Name] = i
		if v.Address == (Address{}) {
			return genesisErr(f+".address", "zero address")
		}
		if j, dup := addrs[v.Address]; dup {
			return genesisErr(f+".address", "%s duplicates validators[%d]", v.Address, j)
		}
		addrs[v.Address] = i
		if len(v.PublicKey) != compressedPubKeyLen {
			return genesisErr(f+".public_key", "%d bytes, want a %d-byte compressed secp256k1 key", len(v.PublicKey), compressedPubKeyLen)
		}
		pub, err := crypto.DecompressPubkey(v.PublicKey)
		if err != nil {
			return genesisErr(f+".public_key", "not a secp256k1 point: %v", err)
		}
		if got := crypto.PubkeyToAddress(*pub); got != v.Address {
			return genesisErr(f+".public_key", "belongs to %s, not to address %s", got, v.Address)
		}
		if v.Power == 0 {
			return genesisErr(f+".power", "must be > 0")
		}
		var carry uint64
		total, carry = bits.Add64(total, v.Power, 0)
		if carry != 0 {
			return genesisErr(f+".power", "total voting power overflows uint64")
		}
		if len(v.P2PAddr) > MaxP2PAddrLen {
			return genesisErr(f+".p2p_addr", "%d bytes, limit %d", len(v.P2PAddr), MaxP2PAddrLen)
		}
	}
	// Quorum arithmetic multiplies the total by 3 in 128 bits, so any uint64 total is safe.
	seen := make(map[Address]int, len(g.Alloc))
	var supply uint64
	for i, a := range g.Alloc {
		f := fmt.Sprintf("alloc[%d]", i)
		if j, dup := seen[a.Address]; dup {
			return genesisErr(f+".address", "%s duplicates alloc[%d]", a.Address, j)
		}
		seen[a.Address] = i
		if a.Balance == 0 {
			return genesisErr(f+".balance", "must be > 0")
		}
		var carry uint64
		supply, carry = bits.Add64(supply, a.Balance, 0)
		if carry != 0 {
			return genesisErr(f+".balance", "total supply overflows uint64")
		}
	}
	return nil
}

// genesisHashDomain and validatorSetDomain tag the canonical encodings.
const (
	genesisHashDomain  = "ledgerd/genesis/v1\x00"
	validatorSetDomain = "ledgerd/validators/v1\x00"
)

// appendValidators appends count(4) then, per validator in index order,
// len(name)(1) | name | address(20) | len(key)(1) | key | power(8).
func (g *Genesis) appendValidators(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(g.Validators)))
	for _, v := range g.Validators {
		b = append(b, byte(len(v.Name)))
		b = append(b, v.Name...)
		b = append(b, v.Address[:]...)
		b = append(b, byte(len(v.PublicKey)))
		b = append(b, v.PublicKey...)
		b = binary.BigEndian.AppendUint64(b, v.Power)
	}
	return b
}

// Encode returns the canonical binary encoding that Hash covers:
// domain | len(chain_id)(1) | chain_id | genesis_time_ms(8) | epoch_length_ms(8) |
// max_epoch_txs(8) | fee_collector(20) | validators | count(4) | allocs sorted by
// address, each address(20) | balance(8). Integers are big-endian. P2P address
// hints are excluded: they are not consensus data. Meaningful only for a
// validated genesis.
func (g *Genesis) Encode() []byte {
	b := make([]byte, 0, 128+len(g.Validators)*128+len(g.Alloc)*28)
	b = append(b, genesisHashDomain...)
	b = append(b, byte(len(g.ChainID)))
	b = append(b, g.ChainID...)
	b = binary.BigEndian.AppendUint64(b, uint64(g.GenesisTimeMs))
	b = binary.BigEndian.AppendUint64(b, g.EpochLengthMs)
	b = binary.BigEndian.AppendUint64(b, g.MaxEpochTxs)
	b = append(b, g.FeeCollector[:]...)
	b = g.appendValidators(b)
	alloc := slices.Clone(g.Alloc)
	slices.SortFunc(alloc, func(x, y Alloc) int { return bytes.Compare(x.Address[:], y.Address[:]) })
	b = binary.BigEndian.AppendUint32(b, uint32(len(alloc)))
	for _, a := range alloc {
		b = append(b, a.Address[:]...)
		b = binary.BigEndian.AppendUint64(b, a.Balance)
	}
	return b
}

// Hash is keccak256 of Encode: the chain's identity and the prev_hash of
// checkpoint 1.
func (g *Genesis) Hash() Hash {
	return keccak(g.Encode())
}

// ValidatorSetHash commits to the validators (names, addresses, keys,
// powers) in index order, for checkpoint headers.
func (g *Genesis) ValidatorSetHash() Hash {
	return keccak(g.appendValidators([]byte(validatorSetDomain)))
}

// ValidatorIndex returns the index of the validator with address a.
func (g *Genesis) ValidatorIndex(a Address) (uint32, bool) {
	for i := range g.Validators {
		if g.Validators[i].Address == a {
			return uint32(i), true
		}
	}
	return 0, false
}

// TotalPower is the sum of the validators' voting power (Validate rejects
// overflow; an unvalidated overflowing set saturates at MaxUint64).
func (g *Genesis) TotalPower() uint64 {
	var total uint64
	for _, v := range g.Validators {
		var carry uint64
		total, carry = bits.Add64(total, v.Power, 0)
		if carry != 0 {
			return ^uint64(0)
		}
	}
	return total
}

// IsQuorum reports whether power is more than two thirds of the total
// (power*3 > total*2, computed in 128 bits).
func (g *Genesis) IsQuorum(power uint64) bool {
	total := g.TotalPower()
	if total == 0 {
		return false
	}
	hi1, lo1 := bits.Mul64(power, 3)
	hi2, lo2 := bits.Mul64(total, 2)
	return hi1 > hi2 || (hi1 == hi2 && lo1 > lo2)
}

// TotalSupply is the sum of the allocations, which Apply conserves
// (saturates at MaxUint64 for an unvalidated genesis).
func (g *Genesis) TotalSupply() uint64 {
	var total uint64
	for _, a := range g.Alloc {
		var carry uint64
		total, carry = bits.Add64(total, a.Balance, 0)
		if carry != 0 {
			return ^uint64(0)
		}
	}
	return total
}
