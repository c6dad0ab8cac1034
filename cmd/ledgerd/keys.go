package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/p2p"
)

// Key files come in two formats:
//
//   - plain hex: 64 hex characters, mode 0600 (crypto.SaveECDSA). Node keys
//     use it, so that a validator starts unattended.
//   - keystore: go-ethereum's Web3 Secret Storage (version 3) JSON, the key
//     encrypted with AES-128-CTR under a scrypt-derived key. Client keys
//     use it (keys new --encrypt, keys import).
//
// Commands that sign (tx send, bench) accept either; a keystore's
// passphrase comes from --password-file or, on a terminal, a prompt.

// maxKeyFileBytes bounds what is read from a key file.
const maxKeyFileBytes = 64 << 10

// keyMaterial is a key read from a file of either format.
type keyMaterial struct {
	key       *ecdsa.PrivateKey
	encrypted bool
}

// keyInfo is what the keys commands report about a key.
type keyInfo struct {
	Address   string `json:"address"`
	PublicKey string `json:"public_key"`
	PeerID    string `json:"peer_id"`
}

// keyReport is what the keys commands print with --json.
type keyReport struct {
	keyInfo
	// File is the key file written or read.
	File string `json:"file"`
	// Format is "hex" or "keystore".
	Format string `json:"format"`
}

func describeKey(key *ecdsa.PrivateKey) (keyInfo, error) {
	id, err := peerIDOf(key)
	if err != nil {
		return keyInfo{}, err
	}
	return keyInfo{Address: addressOf(key), PublicKey: fmt.Sprintf("0x%x", crypto.CompressPubkey(&key.PublicKey)),
		PeerID: id.String()}, nil
}

func printKeyInfo(w io.Writer, k keyInfo) {
	fmt.Fprintf(w, "address:    %s\n", k.Address)
	fmt.Fprintf(w, "public_key: %s\n", k.PublicKey)
	fmt.Fprintf(w, "peer_id:    %s\n", k.PeerID)
}

func printKey(w io.Writer, key *ecdsa.PrivateKey) error {
	info, err := describeKey(key)
	if err != nil {
		return err
	}
	printKeyInfo(w, info)
	return nil
}

// report prints a key report as JSON or text.
func (c *cli) reportKey(asJSON bool, key *ecdsa.PrivateKey, file string, encrypted bool) error {
	info, err := describeKey(key)
	if err != nil {
		return err
	}
	rep := keyReport{keyInfo: info, File: file, Format: "hex"}
	if encrypted {
		rep.Format = "keystore"
	}
	if asJSON {
		return printJSON(c.stdout, rep)
	}
	printKeyInfo(c.stdout, info)
	fmt.Fprintf(c.stdout, "file:       %s (%s)\n", file, rep.Format)
	return nil
}

// passOpts are the passphrase flags of a command that reads or writes a
// keystore file.
type passOpts struct {
	passwordFile string
	lightKDF     bool
}

func passwordFlag(cmd *cobra.Command, o *passOpts) {
	cmd.Flags().StringVar(&o.passwordFile, "password-file", "", "`FILE` whose first line is the keystore passphrase (default: prompt on the terminal)")
	_ = cmd.MarkFlagFilename("password-file")
}

func lightKDFFlag(cmd *cobra.Command, o *passOpts) {
	cmd.Flags().BoolVar(&o.lightKDF, "light-kdf", false,
		"derive the encryption key with scrypt N=4096 (4 MiB, fast) instead of N=262144 (256 MiB, ~1 s): weaker, for tests and small machines")
}

func (o passOpts) scrypt() (n, p int) {
	if o.lightKDF {
		return keystore.LightScryptN, keystore.LightScryptP
	}
	return keystore.StandardScryptN, keystore.StandardScryptP
}

func (c *cli) keysCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{
		Use:   "keys",
		Short: "Create, show, encrypt (import) and decrypt (export) secp256k1 key files",
		Long: `Key files are either plain hex (64 hex characters, mode 0600), which node keys
use so that a validator starts unattended, or go-ethereum keystore files
(Web3 Secret Storage v3: scrypt and AES-128-CTR), for client keys. tx send
and bench accept either; a keystore's passphrase comes from --password-file
or a prompt on the terminal.`,
		GroupID: groupNode,
	})
	cmd.AddCommand(c.keysNewCmd(), c.keysShowCmd(), c.keysImportCmd(), c.keysExportCmd())
	return cmd
}

func (c *cli) keysNewCmd() *cobra.Command {
	var out string
	var encrypt, asJSON bool
	var po passOpts
	cmd := &cobra.Command{
		Use:   "new --out FILE [--encrypt]",
		Short: "Generate a key; plain hex, or an encrypted keystore file with --encrypt",
		Args:  noArgs,
	}
	cmd.RunE = c.action(func(context.Context, []string) error {
		if out == "" {
			return fmt.Errorf("%w: --out is required", errUsage)
		}
		if !encrypt {
			if po.passwordFile != "" || po.lightKDF {
				return fmt.Errorf("%w: --password-file and --light-kdf need --encrypt", errUsage)
			}
			key, err := newKeyFile(out)
			if err != nil {
				return err
			}
			return c.reportKey(asJSON, key, out, false)
		}
		if err := refuseExisting(out); err != nil {
			return err
		}
		pass, err := c.newPassphrase(po.passwordFile)
		if err != nil {
			return err
		}
		key, err := crypto.GenerateKey()
		if err != nil {
			return err
		}
		if err := writeKeystore(out, key, pass, po); err != nil {
			return err
		}
		return c.reportKey(asJSON, key, out, true)
	})
	cmd.Flags().StringVar(&out, "out", "", "`FILE` to write the new key to (mode 0600; must not exist)")
	cmd.Flags().BoolVar(&encrypt, "encrypt", false, "write an encrypted keystore file (v3, scrypt) instead of plain hex")
	passwordFlag(cmd, &po)
	lightKDFFlag(cmd, &po)
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagFilename("out")
	return cmd
}

func (c *cli) keysShowCmd() *cobra.Command {
	var path string
	var asJSON bool
	var po passOpts
	cmd := &cobra.Command{
		Use:   "show --key FILE",
		Short: "Show a key file's address, public key and libp2p peer ID",
		Args:  noArgs,
	}
	cmd.RunE = c.action(func(context.Context, []string) error {
		if path == "" {
			return fmt.Errorf("%w: --key is required", errUsage)
		}
		km, err := c.loadAnyKey(path, po.passwordFile)
		if err != nil {
			return err
		}
		return c.reportKey(asJSON, km.key, path, km.encrypted)
	})
	cmd.Flags().StringVar(&path, "key", "", "key `FILE` to show (plain hex or keystore)")
	passwordFlag(cmd, &po)
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagFilename("key")
	return cmd
}

func (c *cli) keysImportCmd() *cobra.Command {
	var in, out string
	var asJSON bool
	var po passOpts
	cmd := &cobra.Command{
		Use:   "import --key HEXFILE --out FILE",
		Short: "Encrypt a plain hex key into a keystore file",
		Args:  noArgs,
	}
	cmd.RunE = c.action(func(context.Context, []string) error {
		if in == "" || out == "" {
			return fmt.Errorf("%w: --key and --out are required", errUsage)
		}
		if err := refuseExisting(out); err != nil {
			return err
		}
		if enc, err := isKeystoreFile(in); err != nil || enc {
			if err == nil {
				err = fmt.Errorf("%s is already a keystore file", in)
			}
			return err
		}
		km, err := c.loadAnyKey(in, "")
		if err != nil {
			return err
		}
		pass, err := c.newPassphrase(po.passwordFile)
		if err != nil {
			return err
		}
		if err := writeKeystore(out, km.key, pass, po); err != nil {
			return err
		}
		return c.reportKey(asJSON, km.key, out, true)
	})
	cmd.Flags().StringVar(&in, "key", "", "plain hex key `FILE` to encrypt")
	cmd.Flags().StringVar(&out, "out", "", "keystore `FILE` to write (mode 0600; must not exist)")
	passwordFlag(cmd, &po)
	lightKDFFlag(cmd, &po)
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagFilename("key")
	_ = cmd.MarkFlagFilename("out")
	return cmd
}

func (c *cli) keysExportCmd() *cobra.Command {
	var in, out string
	var asJSON bool
	var po passOpts
	cmd := &cobra.Command{
		Use:   "export --key KEYSTORE --out HEXFILE",
		Short: "Decrypt a keystore file into a plain hex key file (for a node key or other tools)",
		Args:  noArgs,
	}
	cmd.RunE = c.action(func(context.Context, []string) error {
		if in == "" || out == "" {
			return fmt.Errorf("%w: --key and --out are required", errUsage)
		}
		if err := refuseExisting(out); err != nil {
			return err
		}
		km, err := c.loadAnyKey(in, po.passwordFile)
		if err != nil {
			return err
		}
		if !km.encrypted {
			return fmt.Errorf("%s is already a plain hex key", in)
		}
		if err := saveKey(out, km.key); err != nil {
			return err
		}
		return c.reportKey(asJSON, km.key, out, false)
	})
	cmd.Flags().StringVar(&in, "key", "", "keystore `FILE` to decrypt")
	cmd.Flags().StringVar(&out, "out", "", "plain hex key `FILE` to write (mode 0600; must not exist)")
	passwordFlag(cmd, &po)
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagFilename("key")
	_ = cmd.MarkFlagFilename("out")
	return cmd
}

// refuseExisting fails when path exists: key files are never overwritten.
func refuseExisting(path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite a key", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// newKeyFile generates a key and writes it to path as plain hex with mode
// 0600, refusing to overwrite an existing file.
func newKeyFile(path string) (*ecdsa.PrivateKey, error) {
	if err := refuseExisting(path); err != nil {
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

// loadKey reads a plain hex key file (64 hex characters).
func loadKey(path string) (*ecdsa.PrivateKey, error) {
	key, err := crypto.LoadECDSA(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return key, nil
}

// loadAnyKey reads a key file of either format; a keystore file is
// decrypted with the passphrase of passwordFile, or one prompted for.
func (c *cli) loadAnyKey(path, passwordFile string) (keyMaterial, error) {
	data, err := node.ReadFileLimited(path, maxKeyFileBytes)
	if err != nil {
		return keyMaterial{}, fmt.Errorf("load key %s: %w", path, err)
	}
	if !isKeystore(data) {
		key, err := loadKey(path)
		return keyMaterial{key: key}, err
	}
	pass, err := c.passphrase(passwordFile, "Passphrase of "+path+": ")
	if err != nil {
		return keyMaterial{}, err
	}
	k, err := keystore.DecryptKey(data, pass)
	if err != nil {
		return keyMaterial{}, fmt.Errorf("load key %s: %w", path, err)
	}
	return keyMaterial{key: k.PrivateKey, encrypted: true}, nil
}

// isKeystore reports whether a key file's content is a keystore (JSON)
// rather than plain hex.
func isKeystore(data []byte) bool { return bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) }

// isKeystoreFile reports whether the key file at path is a keystore.
func isKeystoreFile(path string) (bool, error) {
	data, err := node.ReadFileLimited(path, maxKeyFileBytes)
	if err != nil {
		return false, fmt.Errorf("load key %s: %w", path, err)
	}
	return isKeystore(data), nil
}

// writeKeystore encrypts key under pass and writes it to path (mode
// 0600), refusing to overwrite.
func writeKeystore(path string, key *ecdsa.PrivateKey, pass string, po passOpts) error {
	id, err := uuid.NewRandom()
	if err != nil {
		return err
	}
	n, p := po.scrypt()
	data, err := keystore.EncryptKey(&keystore.Key{Id: id, Address: crypto.PubkeyToAddress(key.PublicKey), PrivateKey: key}, pass, n, p)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// passphrase reads an existing keystore's passphrase: the first line of
// passwordFile, or, without one, a prompt on the terminal.
func (c *cli) passphrase(passwordFile, prompt string) (string, error) {
	if passwordFile != "" {
		return readPasswordFile(passwordFile)
	}
	return c.prompt(prompt)
}

// newPassphrase reads the passphrase for a new keystore file: the first
// line of passwordFile, or, without one, a prompt on the terminal asked
// twice. It refuses an empty passphrase.
func (c *cli) newPassphrase(passwordFile string) (string, error) {
	if passwordFile != "" {
		pass, err := readPasswordFile(passwordFile)
		if err == nil && pass == "" {
			err = fmt.Errorf("%s: the passphrase is empty", passwordFile)
		}
		return pass, err
	}
	pass, err := c.prompt("New passphrase: ")
	if err != nil {
		return "", err
	}
	if pass == "" {
		return "", errors.New("the passphrase is empty")
	}
	again, err := c.prompt("Repeat the passphrase: ")
	if err != nil {
		return "", err
	}
	if again != pass {
		return "", errors.New("the passphrases differ")
	}
	return pass, nil
}

// readPasswordFile returns the first line of path, without its line end.
func readPasswordFile(path string) (string, error) {
	data, err := node.ReadFileLimited(path, maxKeyFileBytes)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(data)).ReadLine()
	return string(line), nil
}

// prompt asks for a passphrase on the terminal without echoing it.
func (c *cli) prompt(prompt string) (string, error) {
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("%w: a keystore passphrase is needed and stdin is not a terminal: give --password-file", errUsage)
	}
	fmt.Fprint(c.stderr, prompt)
	pass, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("read passphrase: %w", err)
	}
	return strings.TrimRight(string(pass), "\r\n"), nil
}

// peerIDOf is the libp2p peer ID of a validator key.
func peerIDOf(key *ecdsa.PrivateKey) (fmt.Stringer, error) {
	return p2p.PeerIDFromKey(key)
}

// addressOf is the Ethereum-style address of a key, as 0x-hex.
func addressOf(key *ecdsa.PrivateKey) string {
	return crypto.PubkeyToAddress(key.PublicKey).Hex()
}

// saveKey writes key to path as plain hex (mode 0600), refusing to
// overwrite.
func saveKey(path string, key *ecdsa.PrivateKey) error {
	if err := refuseExisting(path); err != nil {
		return err
	}
	return crypto.SaveECDSA(path, key)
}

func mustAddress(hex string) common.Address { return common.HexToAddress(hex) }
