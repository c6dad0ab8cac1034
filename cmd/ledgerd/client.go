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
	"github.com/spf13/cobra"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
)

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

// clientCmd fills in what every command that talks to a node shares:
// --node (default LEDGERD_NODE), --json and the help's environment.
func (c *cli) clientCmd(cmd *cobra.Command, nodeURL *string, asJSON *bool) *cobra.Command {
	c.nodeFlag(cmd, nodeURL)
	c.jsonFlag(cmd, asJSON)
	cmd.Annotations = envAnnotation(envNode)
	return cmd
}

func (c *cli) txCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "tx", Short: "Sign and submit a transfer, or follow one", GroupID: groupClient})
	cmd.AddCommand(c.txSendCmd(), c.txStatusCmd())
	return cmd
}

// txSendReport is what `tx send --json` prints.
type txSendReport struct {
	Hash  common.Hash `json:"hash"`
	From  string      `json:"from"`
	Nonce uint64      `json:"nonce"`
	// Status is "submitted", or "final" after --wait.
	Status string `json:"status"`
	// Epoch and Checkpoint name the final checkpoint holding the
	// transaction (with --wait).
	Epoch      uint64       `json:"epoch,omitempty"`
	Checkpoint *common.Hash `json:"checkpoint,omitempty"`
}

func (c *cli) txSendCmd() *cobra.Command {
	var nodeURL, keyFile, toStr, passwordFile string
	var amount, fee uint64
	var nonceFlag int64
	var wait, asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "send --key FILE --to ADDR --amount N [--fee N] [--nonce N] [--wait]",
		Short: "Sign and submit a transfer (nonce fetched from the node unless given)",
		Args:  noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		if keyFile == "" || toStr == "" {
			return fmt.Errorf("%w: --key and --to are required", errUsage)
		}
		to, err := api.ParseAddress(toStr)
		if err != nil {
			return fmt.Errorf("%w: --to: %v", errUsage, err)
		}
		km, err := c.loadAnyKey(keyFile, passwordFile)
		if err != nil {
			return err
		}
		key := km.key
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		nonce := uint64(nonceFlag)
		if nonceFlag < 0 {
			acct, err := cl.Account(ctx, mustAddress(addressOf(key)), false)
			if err != nil {
				return err
			}
			nonce = acct.Nonce
		}
		tx := ledger.Tx{ChainID: st.ChainID, To: to, Amount: amount, Fee: fee, Nonce: nonce}
		if err := tx.Sign(key); err != nil {
			return err
		}
		hash, err := cl.SubmitTx(ctx, tx.Encode())
		if err != nil {
			return err
		}
		rep := txSendReport{Hash: hash, From: addressOf(key), Nonce: nonce, Status: "submitted"}
		if !asJSON {
			fmt.Fprintf(c.stdout, "submitted %s (nonce %d)\n", hash.Hex(), nonce)
		}
		if wait {
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			ts, err := cl.WaitTx(wctx, hash, 100*time.Millisecond)
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", hash.Hex(), err)
			}
			if ts.Receipt != nil && ts.Receipt.Status != api.ReceiptOK {
				return fmt.Errorf("transaction %s final in epoch %d but failed: %s", hash.Hex(), ts.Epoch, ts.Receipt.Error)
			}
			rep.Status, rep.Epoch, rep.Checkpoint = "final", ts.Epoch, ts.CheckpointHash
			if !asJSON {
				fmt.Fprintf(c.stdout, "final in epoch %d (checkpoint %s)\n", ts.Epoch, ts.CheckpointHash.Hex())
			}
		}
		if asJSON {
			return printJSON(c.stdout, rep)
		}
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&keyFile, "key", "", "sender key `FILE`: plain hex or an encrypted keystore file")
	f.StringVar(&passwordFile, "password-file", "", "`FILE` whose first line is the passphrase of a keystore --key (default: prompt on the terminal)")
	f.StringVar(&toStr, "to", "", "recipient `ADDR` (0x…)")
	f.Uint64Var(&amount, "amount", 0, "amount to transfer")
	f.Uint64Var(&fee, "fee", 0, "fee paid to the fee collector")
	f.Int64Var(&nonceFlag, "nonce", -1, "nonce; -1 fetches the account's next nonce from the node")
	f.BoolVar(&wait, "wait", false, "wait until the transaction is in a final checkpoint")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "how long --wait waits")
	_ = cmd.MarkFlagFilename("key")
	_ = cmd.MarkFlagFilename("password-file")
	return c.clientCmd(cmd, &nodeURL, &asJSON)
}

func (c *cli) txStatusCmd() *cobra.Command {
	var nodeURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status HASH",
		Short: "Show a transaction's status and receipt (JSON)",
		Args:  exactArgs(1, "a transaction hash"),
	}
	cmd.RunE = c.action(func(ctx context.Context, args []string) error {
		h, err := api.ParseHash(args[0])
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		ts, err := cl.Tx(ctx, h)
		if err != nil {
			return err
		}
		return printJSON(c.stdout, ts)
	})
	return c.clientCmd(cmd, &nodeURL, &asJSON)
}

func (c *cli) checkpointCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "checkpoint", Short: "Read checkpoints and verify the chain from genesis", GroupID: groupClient})
	cmd.AddCommand(c.checkpointGetCmd(), c.checkpointListCmd(), c.checkpointVerifyCmd())
	return cmd
}

func (c *cli) checkpointGetCmd() *cobra.Command {
	var nodeURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:       "get <hash|epoch|latest>",
		Short:     "Show one checkpoint with its votes (JSON)",
		Args:      exactArgs(1, "a hash (0x…), an epoch number or latest"),
		ValidArgs: []string{"latest"},
	}
	cmd.RunE = c.action(func(ctx context.Context, args []string) error {
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		cp, err := getCheckpoint(ctx, cl, args[0])
		if err != nil {
			return err
		}
		return printJSON(c.stdout, cp)
	})
	return c.clientCmd(cmd, &nodeURL, &asJSON)
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

func (c *cli) checkpointListCmd() *cobra.Command {
	var nodeURL, cursor string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--limit N] [--cursor C]",
		Short: "List final checkpoints, newest first, one page at a time",
		Args:  noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		page, err := cl.Checkpoints(ctx, cursor, limit)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.stdout, page)
		}
		fmt.Fprintf(c.stdout, "%-8s %-66s %8s %6s %s\n", "EPOCH", "HASH", "TXS", "VOTES", "TIME")
		for _, cp := range page.Checkpoints {
			fmt.Fprintf(c.stdout, "%-8d %-66s %8d %6d %s\n", cp.Epoch, cp.Hash.Hex(), cp.TxCount, len(cp.Votes),
				time.UnixMilli(int64(cp.TimeMs)).UTC().Format(time.RFC3339Nano))
		}
		if page.NextCursor != "" {
			fmt.Fprintf(c.stdout, "next: --cursor %s\n", page.NextCursor)
		}
		return nil
	})
	cmd.Flags().IntVar(&limit, "limit", 20, "page size (at most 100)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "`CURSOR` from a previous page")
	return c.clientCmd(cmd, &nodeURL, &asJSON)
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

// verifyReport is what `checkpoint verify --json` prints.
type verifyReport struct {
	// Verified is the number of checkpoints verified, epochs 1 to Epoch.
	Verified int         `json:"verified"`
	Epoch    uint64      `json:"epoch"`
	Hash     common.Hash `json:"hash"`
	Genesis  common.Hash `json:"genesis"`
}

func (c *cli) checkpointVerifyCmd() *cobra.Command {
	var nodeURL, genesis string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --genesis FILE",
		Short: "Verify every certificate and link from the latest checkpoint back to genesis",
		Long: `Fetch the chain from the node's latest final checkpoint back to epoch 1 and
verify it offline: every header links to its predecessor and carries votes of
more than two thirds of the genesis validators. The genesis file is the only
trusted input.`,
		Args: noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		if genesis == "" {
			return fmt.Errorf("%w: --genesis is required", errUsage)
		}
		g, err := node.LoadGenesis(genesis)
		if err != nil {
			return err
		}
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		latest, err := cl.LatestCheckpoint(ctx)
		if err != nil {
			return err
		}
		n, err := verifyChainFrom(ctx, cl, g, latest)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.stdout, verifyReport{Verified: n, Epoch: latest.Epoch, Hash: latest.Hash, Genesis: g.Hash()})
		}
		fmt.Fprintf(c.stdout, "verified %d checkpoints: epoch %d (%s) links back to genesis %s; every certificate holds\n",
			n, latest.Epoch, latest.Hash.Hex(), g.Hash().Hex())
		return nil
	})
	cmd.Flags().StringVar(&genesis, "genesis", "", "the chain's genesis `FILE` (the only trusted input)")
	_ = cmd.MarkFlagFilename("genesis", "json")
	return c.clientCmd(cmd, &nodeURL, &asJSON)
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

// accountReport is what `account` prints.
type accountReport struct {
	api.Account
	// Verified, with --proof, says what the proof showed and against which
	// verified checkpoint.
	Verified *proofCheck `json:"verified,omitempty"`
}

// proofCheck is the result of checking an account proof client-side.
type proofCheck struct {
	// Proof is "inclusion" or "absence".
	Proof     string      `json:"proof"`
	Epoch     uint64      `json:"epoch"`
	StateRoot common.Hash `json:"state_root"`
	// Genesis is the genesis hash the checkpoint chain was verified from.
	Genesis common.Hash `json:"genesis"`
}

func (c *cli) accountCmd() *cobra.Command {
	var nodeURL, genesis string
	var proof, asJSON bool
	cmd := &cobra.Command{
		Use:   "account ADDR [--proof --genesis FILE]",
		Short: "Show an account (JSON), optionally with a Merkle proof checked client-side",
		Long: `Show an account's balance and nonce as JSON. With --proof the node also sends
a Merkle proof, which is checked here against the state root of a checkpoint
whose chain is verified from --genesis; the result is the "verified" object.`,
		GroupID: groupClient,
		Args:    exactArgs(1, "an address"),
	}
	cmd.RunE = c.action(func(ctx context.Context, args []string) error {
		addr, err := api.ParseAddress(args[0])
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if proof && genesis == "" {
			return fmt.Errorf("%w: --proof needs --genesis to verify the checkpoint", errUsage)
		}
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		acct, err := cl.Account(ctx, addr, proof)
		if err != nil {
			return err
		}
		if !proof {
			return printJSON(c.stdout, accountReport{Account: acct})
		}
		check, err := verifyAccount(ctx, cl, genesis, addr, acct)
		if err != nil {
			return err
		}
		acct.Proof = nil
		if err := printJSON(c.stdout, accountReport{Account: acct, Verified: check}); err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintf(c.stderr, "proof of %s verified against epoch %d state root %s (checkpoint chain verified from genesis)\n",
				check.Proof, check.Epoch, check.StateRoot.Hex())
		}
		return nil
	})
	cmd.Flags().BoolVar(&proof, "proof", false, "fetch and verify the Merkle proof against a verified checkpoint")
	cmd.Flags().StringVar(&genesis, "genesis", "", "genesis `FILE` to verify the checkpoint against (required with --proof)")
	_ = cmd.MarkFlagFilename("genesis", "json")
	return c.clientCmd(cmd, &nodeURL, &asJSON)
}

// verifyAccount checks acct's proof against the state root of its epoch's
// checkpoint, whose chain it verifies from the genesis in genesisFile.
func verifyAccount(ctx context.Context, c *api.Client, genesisFile string, addr common.Address, acct api.Account) (*proofCheck, error) {
	g, err := node.LoadGenesis(genesisFile)
	if err != nil {
		return nil, err
	}
	var stateRoot common.Hash
	if acct.Epoch == 0 {
		st, err := ledger.GenesisState(g, ledger.NewMemNodeDB())
		if err != nil {
			return nil, err
		}
		stateRoot = st.Root()
	} else {
		cp, err := c.Checkpoint(ctx, acct.Epoch)
		if err != nil {
			return nil, err
		}
		if _, err := verifyChainFrom(ctx, c, g, cp); err != nil {
			return nil, fmt.Errorf("checkpoint of epoch %d does not verify: %w", acct.Epoch, err)
		}
		stateRoot = cp.StateRoot
	}
	if stateRoot != acct.StateRoot {
		return nil, fmt.Errorf("account served at state root %s, verified checkpoint has %s", acct.StateRoot.Hex(), stateRoot.Hex())
	}
	p := make(ledger.Proof, len(acct.Proof))
	for i, b := range acct.Proof {
		p[i] = b
	}
	got, exists, err := ledger.VerifyProof(stateRoot, addr, p)
	if err != nil {
		return nil, fmt.Errorf("proof does not verify: %w", err)
	}
	if got.Balance != acct.Balance || got.Nonce != acct.Nonce {
		return nil, fmt.Errorf("proof proves balance %d nonce %d, node said %d/%d", got.Balance, got.Nonce, acct.Balance, acct.Nonce)
	}
	check := &proofCheck{Proof: "inclusion", Epoch: acct.Epoch, StateRoot: stateRoot, Genesis: g.Hash()}
	if !exists {
		check.Proof = "absence"
	}
	return check, nil
}

func (c *cli) snapshotCmd() *cobra.Command {
	var nodeURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "snapshot EPOCH",
		Short:   "Show an epoch's global (Chandy–Lamport) snapshot",
		GroupID: groupClient,
		Args:    exactArgs(1, "an epoch"),
	}
	cmd.RunE = c.action(func(ctx context.Context, args []string) error {
		ep, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: epoch %q: %v", errUsage, args[0], err)
		}
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		s, err := cl.Snapshot(ctx, ep)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.stdout, s)
		}
		w := c.stdout
		fmt.Fprintf(w, "epoch %d global snapshot\ncut (marker seq per validator): %v\n", s.Epoch, s.Cut)
		for _, nd := range s.Nodes {
			fmt.Fprintf(w, "validator %d %s recorded at %s: delivered %v, mempool %d\n", nd.Index, nd.Validator.Hex(),
				time.UnixMilli(int64(nd.TimeMs)).UTC().Format("15:04:05.000"), nd.Recorded, nd.MempoolSize)
			for _, ch := range nd.Channels {
				if ch.Count == 0 {
					fmt.Fprintf(w, "  channel %d→%d: empty\n", ch.From, nd.Index)
					continue
				}
				fmt.Fprintf(w, "  channel %d→%d: %d entries in flight (seq %d..%d), %d transactions\n", ch.From, nd.Index, ch.Count, ch.FirstSeq, ch.LastSeq, ch.TxCount)
			}
		}
		return nil
	})
	return c.clientCmd(cmd, &nodeURL, &asJSON)
}

func (c *cli) healthcheckCmd() *cobra.Command {
	var nodeURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "healthcheck",
		Short:   "Exit 0 when the node's API answers /healthz (for container health checks)",
		GroupID: groupClient,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		cl, err := newClient(c.node(cmd, nodeURL))
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		h, err := cl.Health(cctx)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.stdout, h)
		}
		fmt.Fprintf(c.stdout, "ok: epoch %d, %s\n", h.Epoch, h.Sync)
		return nil
	})
	return c.clientCmd(cmd, &nodeURL, &asJSON)
}
