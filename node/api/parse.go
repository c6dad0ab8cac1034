package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
)

// ParseHash parses a 32-byte hash written as 64 hex digits with an optional
// 0x prefix. Errors wrap ErrBadRequest.
func ParseHash(s string) (common.Hash, error) {
	b, err := parseFixedHex(s, common.HashLength)
	if err != nil {
		return common.Hash{}, fmt.Errorf("%w: hash %q: %v", ErrBadRequest, clip(s), err)
	}
	return common.BytesToHash(b), nil
}

// ParseAddress parses a 20-byte address written as 40 hex digits with an
// optional 0x prefix (any letter case; checksums are not enforced). Errors
// wrap ErrBadRequest.
func ParseAddress(s string) (common.Address, error) {
	b, err := parseFixedHex(s, common.AddressLength)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: address %q: %v", ErrBadRequest, clip(s), err)
	}
	return common.BytesToAddress(b), nil
}

// ParseEpoch parses a decimal epoch number: digits only, no sign, no leading
// zeros. Errors wrap ErrBadRequest.
func ParseEpoch(s string) (uint64, error) {
	n, err := parseUint(s)
	if err != nil {
		return 0, fmt.Errorf("%w: epoch %q: %v", ErrBadRequest, clip(s), err)
	}
	return n, nil
}

// parseUint accepts canonical decimal uint64 only.
func parseUint(s string) (uint64, error) {
	switch {
	case s == "":
		return 0, fmt.Errorf("empty number")
	case len(s) > 20:
		return 0, fmt.Errorf("number too long")
	case len(s) > 1 && s[0] == '0':
		return 0, fmt.Errorf("leading zeros")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("out of range for uint64")
	}
	return n, nil
}

func parseFixedHex(s string, size int) ([]byte, error) {
	digits := trim0x(s)
	if len(digits) != 2*size {
		return nil, fmt.Errorf("want %d hex digits, got %d", 2*size, len(digits))
	}
	b, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("invalid hex")
	}
	return b, nil
}

func trim0x(s string) string {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return s[2:]
	}
	return s
}

// clip shortens user input echoed in error messages.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// ParseTxBody parses the body of POST /v1/txs: either a JSON object
// {"tx": "0x..."} (first non-space byte '{') or the bare hex encoding, with
// or without 0x, surrounded by optional whitespace. It returns the raw
// transaction bytes (not yet decoded or checked). Errors wrap ErrBadRequest.
func ParseTxBody(body []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body: want {\"tx\":\"0x...\"} or hex", ErrBadRequest)
	}
	var digits []byte
	if trimmed[0] == '{' {
		var sub struct {
			Tx *string `json:"tx"`
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sub); err != nil {
			return nil, fmt.Errorf("%w: JSON body: %v", ErrBadRequest, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("%w: JSON body: trailing data after object", ErrBadRequest)
		}
		if sub.Tx == nil {
			return nil, fmt.Errorf("%w: JSON body: missing field \"tx\"", ErrBadRequest)
		}
		digits = []byte(*sub.Tx)
	} else {
		digits = trimmed
	}
	if len(digits) >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		digits = digits[2:]
	}
	if len(digits) == 0 {
		return nil, fmt.Errorf("%w: empty transaction", ErrBadRequest)
	}
	if len(digits)%2 != 0 {
		return nil, fmt.Errorf("%w: transaction hex has odd length %d", ErrBadRequest, len(digits))
	}
	raw := make([]byte, len(digits)/2)
	if _, err := hex.Decode(raw, digits); err != nil {
		return nil, fmt.Errorf("%w: transaction is not valid hex", ErrBadRequest)
	}
	return raw, nil
}
