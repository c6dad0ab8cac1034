package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/p2p"
)

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "keys", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"new":  cmdKeysNew,
		"show": cmdKeysShow,
	})
}

func cmdKeysNew(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys new", "keys new --out FILE", stderr)
	out := fs.String("out", "", "file to write the new key to (mode 0600; must not exist)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	key, err := newKeyFile(*out)
	if err != nil {
		return err
	}
	return printKey(stdout, key)
}

func cmdKeysShow(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys show", "keys show --key FILE", stderr)
	path := fs.String("key", "", "key file to show")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --key is required", errUsage)
	}
	key, err := loadKey(*path)
	if err != nil {
		return err
	}
	return printKey(stdout, key)
}

// newKeyFile generates a key and writes it to path with mode 0600, refusing
// to overwrite an existing file.
func newKeyFile(path string) (*ecdsa.PrivateKey, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%s already exists; refusing to overwrite a key", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := crypto.SaveECDSA(path, key); err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	return key, nil
}

// loadKey reads a key file written by keys new (64 hex characters).
func loadKey(path string) (*ecdsa.PrivateKey, error) {
	key, err := crypto.LoadECDSA(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return key, nil
}

// peerIDOf is the libp2p peer ID of a validator key (LIBRARIES.md §2.1).
func peerIDOf(key *ecdsa.PrivateKey) (fmt.Stringer, error) {
	return p2p.PeerIDFromKey(key)
}

func printKey(w io.Writer, key *ecdsa.PrivateKey) error {
	id, err := peerIDOf(key)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "address:    %s\n", crypto.PubkeyToAddress(key.PublicKey).Hex())
	fmt.Fprintf(w, "public_key: 0x%x\n", crypto.CompressPubkey(&key.PublicKey))
	fmt.Fprintf(w, "peer_id:    %s\n", id)
	return nil
}

// addressOf is the Ethereum-style address of a key, as 0x-hex.
func addressOf(key *ecdsa.PrivateKey) string {
	return crypto.PubkeyToAddress(key.PublicKey).Hex()
}

// saveKey writes key to path (mode 0600), refusing to overwrite.
func saveKey(path string, key *ecdsa.PrivateKey) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite a key", path)
	}
	return crypto.SaveECDSA(path, key)
}

func mustAddress(hex string) common.Address { return common.HexToAddress(hex) }
