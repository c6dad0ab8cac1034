package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
)

const defaultNode = "http://127.0.0.1:8600"

func newClient(url string) (*api.Client, error) {
	c, err := api.NewClient(url, &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: --node: %v", errUsage, err)
	}
	return c, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdTx(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "tx", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"send":   cmdTxSend,
		"status": cmdTxStatus,
	})
}

func cmdTxSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tx send", "tx send --node URL --key FILE --to ADDR --amount N [--fee N] [--nonce N] [--wait]", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	keyFile := fs.String("key", "", "sender key file")
	toStr := fs.String("to", "", "recipient address (0x…)")
	amount := fs.Uint64("amount", 0, "amount to transfer")
	fee := fs.Uint64("fee", 0, "fee paid to the fee collector")
	nonceFlag := fs.Int64("nonce", -1, "nonce (default: fetched from the node)")
	wait := fs.Bool("wait", false, "wait until the transaction is in a final checkpoint")
	timeout := fs.Duration("timeout", 60*time.Second, "how long --wait waits")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *keyFile == "" || *toStr == "" {
		return fmt.Errorf("%w: --key and --to are required", errUsage)
	}
	to, err := api.ParseAddress(*toStr)
	if err != nil {
		return fmt.Errorf("%w: --to: %v", errUsage, err)
	}
	key, err := loadKey(*keyFile)
	if err != nil {
		return err
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	nonce := uint64(*nonceFlag)
	if *nonceFlag < 0 {
		acct, err := c.Account(ctx, mustAddress(addressOf(key)), false)
		if err != nil {
			return err
		}
		nonce = acct.Nonce
	}
	tx := ledger.Tx{ChainID: st.ChainID, To: to, Amount: *amount, Fee: *fee, Nonce: nonce}
	if err := tx.Sign(key); err != nil {
		return err
	}
	hash, err := c.SubmitTx(ctx, tx.Encode())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "submitted %s (nonce %d)\n", hash.Hex(), nonce)
	if !*wait {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ts, err := c.WaitTx(wctx, hash, 100*time.Millisecond)
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", hash.Hex(), err)
	}
	if ts.Receipt != nil && ts.Receipt.Status != api.ReceiptOK {
		return fmt.Errorf("transaction %s final in epoch %d but failed: %s", hash.Hex(), ts.Epoch, ts.Receipt.Error)
	}
	fmt.Fprintf(stdout, "final in epoch %d (checkpoint %s)\n", ts.Epoch, ts.CheckpointHash.Hex())
	return nil
}

func cmdTxStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tx status", "tx status --node URL HASH", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: a transaction hash is required", errUsage)
	}
	h, err := api.ParseHash(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	ts, err := c.Tx(ctx, h)
	if err != nil {
		return err
	}
	return printJSON(stdout, ts)
}

func cmdCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "checkpoint", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"get":    cmdCheckpointGet,
		"list":   cmdCheckpointList,
		"verify": cmdCheckpointVerify,
	})
}

func cmdCheckpointGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("checkpoint get", "checkpoint get --node URL <hash|epoch|latest>", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give a hash (0x…), an epoch number or latest", errUsage)
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	cp, err := getCheckpoint(ctx, c, fs.Arg(0))
	if err != nil {
		return err
	}
	return printJSON(stdout, cp)
}

func getCheckpoint(ctx context.Context, c *api.Client, which string) (api.Checkpoint, error) {
	switch {
	case which == "latest":
		return c.LatestCheckpoint(ctx)
	case strings.HasPrefix(which, "0x"):
		h, err := api.ParseHash(which)
		if err != nil {
			return api.Checkpoint{}, fmt.Errorf("%w: %v", errUsage, err)
		}
		return c.CheckpointByHash(ctx, h)
	default:
		ep, err := strconv.ParseUint(which, 10, 64)
		if err != nil {
			return api.Checkpoint{}, fmt.Errorf("%w: %q is not a hash, an epoch or latest", errUsage, which)
		}
		return c.Checkpoint(ctx, ep)
	}
}

func cmdCheckpointList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("checkpoint list", "checkpoint list --node URL [--limit N] [--cursor C]", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	limit := fs.Int("limit", 20, "page size (at most 100)")
	cursor := fs.String("cursor", "", "cursor from a previous page")
	asJSON := fs.Bool("json", false, "print the page as JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	page, err := c.Checkpoints(ctx, *cursor, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, page)
	}
	fmt.Fprintf(stdout, "%-8s %-66s %8s %6s %s\n", "EPOCH", "HASH", "TXS", "VOTES", "TIME")
	for _, cp := range page.Checkpoints {
		fmt.Fprintf(stdout, "%-8d %-66s %8d %6d %s\n", cp.Epoch, cp.Hash.Hex(), cp.TxCount, len(cp.Votes),
			time.UnixMilli(int64(cp.TimeMs)).UTC().Format(time.RFC3339Nano))
	}
	if page.NextCursor != "" {
		fmt.Fprintf(stdout, "next: --cursor %s\n", page.NextCursor)
	}
	return nil
}

// toCertified converts an API checkpoint to the verifiable form: the header
// is re-decoded from its canonical bytes, never trusted from JSON fields.
func toCertified(cp api.Checkpoint, g *ledger.Genesis) (checkpoint.Certified, error) {
	h, err := checkpoint.DecodeHeader(cp.Header)
	if err != nil {
		return checkpoint.Certified{}, fmt.Errorf("epoch %d: %w", cp.Epoch, err)
	}
	if h.Hash() != cp.Hash || h.Epoch != cp.Epoch {
		return checkpoint.Certified{}, fmt.Errorf("epoch %d: served header does not hash to the served hash", cp.Epoch)
	}
	cert := checkpoint.Certificate{Epoch: h.Epoch, Hash: cp.Hash}
	for _, v := range cp.Votes {
		if len(v.Signature) != 65 {
			return checkpoint.Certified{}, fmt.Errorf("epoch %d: vote of validator %d has a %d-byte signature", cp.Epoch, v.ValidatorIndex, len(v.Signature))
		}
		vote := checkpoint.Vote{Epoch: h.Epoch, Hash: cp.Hash, Validator: v.ValidatorIndex,
			Recorded: v.Recorded, RecordedTimeMs: v.RecordedTimeMs}
		copy(vote.Sig[:], v.Signature)
		cert.Votes = append(cert.Votes, vote)
	}
	return checkpoint.Certified{Header: h, Certificate: cert}, nil
}

func cmdCheckpointVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("checkpoint verify", "checkpoint verify --node URL --genesis FILE", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	genesis := fs.String("genesis", "", "the chain's genesis.json (the only trusted input)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *genesis == "" {
		return fmt.Errorf("%w: --genesis is required", errUsage)
	}
	g, err := node.LoadGenesis(*genesis)
	if err != nil {
		return err
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	latest, err := c.LatestCheckpoint(ctx)
	if err != nil {
		return err
	}
	n, err := verifyChainFrom(ctx, c, g, latest)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "verified %d checkpoints: epoch %d (%s) links back to genesis %s; every certificate holds\n",
		n, latest.Epoch, latest.Hash.Hex(), g.Hash().Hex())
	return nil
}

// verifyChainFrom walks from latest back to genesis by prev_hash, fetching
// each checkpoint by hash, then verifies the whole chain offline.
func verifyChainFrom(ctx context.Context, c *api.Client, g *ledger.Genesis, latest api.Checkpoint) (int, error) {
	var chain []checkpoint.Certified
	cur := latest
	for {
		cc, err := toCertified(cur, g)
		if err != nil {
			return 0, err
		}
		if !cur.Final {
			return 0, fmt.Errorf("epoch %d is not final on the node", cur.Epoch)
		}
		chain = append(chain, cc)
		if cur.Epoch == 1 {
			break
		}
		if cur.Epoch == 0 || len(chain) > math.MaxInt32 {
			return 0, errors.New("chain does not end at epoch 1")
		}
		prev, err := c.CheckpointByHash(ctx, cur.PrevHash)
		if err != nil {
			return 0, fmt.Errorf("fetch prev %s of epoch %d: %w", cur.PrevHash.Hex(), cur.Epoch, err)
		}
		cur = prev
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	if err := checkpoint.VerifyChain(g, nil, chain); err != nil {
		return 0, err
	}
	return len(chain), nil
}

func cmdAccount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("account", "account --node URL ADDR [--proof --genesis FILE]", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	proof := fs.Bool("proof", false, "fetch and verify the Merkle proof against a verified checkpoint")
	genesis := fs.String("genesis", "", "genesis.json to verify the checkpoint against (required with --proof)")
	if err := parseFlags(fs, reorderArgs(args), 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: an address is required", errUsage)
	}
	addr, err := api.ParseAddress(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	acct, err := c.Account(ctx, addr, *proof)
	if err != nil {
		return err
	}
	if !*proof {
		return printJSON(stdout, acct)
	}
	if *genesis == "" {
		return fmt.Errorf("%w: --proof needs --genesis to verify the checkpoint", errUsage)
	}
	g, err := node.LoadGenesis(*genesis)
	if err != nil {
		return err
	}
	var stateRoot common.Hash
	if acct.Epoch == 0 {
		st, err := ledger.GenesisState(g, ledger.NewMemNodeDB())
		if err != nil {
			return err
		}
		stateRoot = st.Root()
	} else {
		cp, err := c.Checkpoint(ctx, acct.Epoch)
		if err != nil {
			return err
		}
		if _, err := verifyChainFrom(ctx, c, g, cp); err != nil {
			return fmt.Errorf("checkpoint of epoch %d does not verify: %w", acct.Epoch, err)
		}
		stateRoot = cp.StateRoot
	}
	if stateRoot != acct.StateRoot {
		return fmt.Errorf("account served at state root %s, verified checkpoint has %s", acct.StateRoot.Hex(), stateRoot.Hex())
	}
	p := make(ledger.Proof, len(acct.Proof))
	for i, b := range acct.Proof {
		p[i] = b
	}
	got, exists, err := ledger.VerifyProof(stateRoot, addr, p)
	if err != nil {
		return fmt.Errorf("proof does not verify: %w", err)
	}
	if got.Balance != acct.Balance || got.Nonce != acct.Nonce {
		return fmt.Errorf("proof proves balance %d nonce %d, node said %d/%d", got.Balance, got.Nonce, acct.Balance, acct.Nonce)
	}
	acct.Proof = nil
	if err := printJSON(stdout, acct); err != nil {
		return err
	}
	what := "inclusion"
	if !exists {
		what = "absence"
	}
	fmt.Fprintf(stdout, "proof of %s verified against epoch %d state root %s (checkpoint chain verified from genesis)\n", what, acct.Epoch, stateRoot.Hex())
	return nil
}

// reorderArgs moves flags before positional arguments so "account ADDR
// --proof" works like "account --proof ADDR".
func reorderArgs(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !isBoolFlag(a) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func isBoolFlag(a string) bool {
	a = strings.TrimLeft(a, "-")
	return a == "proof" || a == "json" || a == "wait" || a == "h" || a == "help"
}

func cmdSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("snapshot", "snapshot --node URL EPOCH", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, reorderArgs(args), 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: an epoch is required", errUsage)
	}
	ep, err := strconv.ParseUint(fs.Arg(0), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: epoch %q: %v", errUsage, fs.Arg(0), err)
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	s, err := c.Snapshot(ctx, ep)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, s)
	}
	fmt.Fprintf(stdout, "epoch %d global snapshot\ncut (marker seq per validator): %v\n", s.Epoch, s.Cut)
	for _, nd := range s.Nodes {
		fmt.Fprintf(stdout, "validator %d %s recorded at %s: delivered %v, mempool %d\n", nd.Index, nd.Validator.Hex(),
			time.UnixMilli(int64(nd.TimeMs)).UTC().Format("15:04:05.000"), nd.Recorded, nd.MempoolSize)
		for _, ch := range nd.Channels {
			if ch.Count == 0 {
				fmt.Fprintf(stdout, "  channel %d→%d: empty\n", ch.From, nd.Index)
				continue
			}
			fmt.Fprintf(stdout, "  channel %d→%d: %d entries in flight (seq %d..%d), %d transactions\n", ch.From, nd.Index, ch.Count, ch.FirstSeq, ch.LastSeq, ch.TxCount)
		}
	}
	return nil
}

func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "healthcheck [--node URL]", stderr)
	nodeURL := fs.String("node", defaultNode, "node API URL")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	c, err := newClient(*nodeURL)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h, err := c.Health(cctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: epoch %d, %s\n", h.Epoch, h.Sync)
	return nil
}
