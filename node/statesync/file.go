package statesync

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// State file format (docs/statesync.md), all integers big-endian:
//
//	magic        "ledgerd-state-v1"            16 bytes
//	genesis hash                               32 bytes
//	epoch N                                    8 bytes
//	N records of epochs 1..N: u32 len, header, u32 len, certificate
//	accounts in ascending address order: 0x01, address(20), balance(8), nonce(8)
//	end: 0x00, u64 account count
//
// Nothing but the genesis is trusted: the chain verifies from the genesis
// hash, the certificate of epoch N from the genesis validators, and the
// accounts rebuild the trie whose root must equal epoch N's state_root.
const stateFileMagic = "ledgerd-state-v1"

// Bounds of state files and state sync.
const (
	// MaxStateAccounts bounds the accounts of one imported or synced state:
	// the rebuilt trie nodes are held in memory until they are committed.
	MaxStateAccounts = 16 << 20
	// maxRecordBytes bounds one encoded header or certificate.
	maxRecordBytes = 1 << 20
	// accountRecordBytes is one account record without its tag.
	accountRecordBytes = 20 + 16
)

// State file and state sync errors.
var (
	// ErrStateFile: the file is malformed, truncated or does not verify.
	ErrStateFile = errors.New("state file refused")
	// ErrStoreNotEmpty: import only bootstraps an empty data directory.
	ErrStoreNotEmpty = errors.New("data directory is not empty: import only bootstraps a new node (move the old data directory away first)")
	// ErrNoCertificate: the epoch is not final in this store.
	ErrNoCertificate = errors.New("no certificate for the epoch in this store")
	// ErrNoHistory: the store starts at a later epoch (it was bootstrapped
	// by state sync or import) and cannot write checkpoints 1..N.
	ErrNoHistory = errors.New("this store has no checkpoints before the epoch it was bootstrapped at (state sync or import), so it cannot export: export from a node with the full history")
)

// StateInfo describes an exported or imported state.
type StateInfo struct {
	Epoch     uint64
	Hash      ledger.Hash
	StateRoot ledger.Hash
	Accounts  uint64
}

// ExportState writes the certified checkpoints 1..epoch and the complete
// account state of epoch from st to w. Every epoch 1..epoch needs its
// header and certificate in st.
//
// It is the one writer of state files: `state export --home` and the API
// route GET /v1/state/{epoch} both call it. It checks that the epoch can be
// exported (checkExportable) before it writes anything, and streams through
// a 64 KiB buffer: memory does not grow with the state.
func ExportState(st *store.Store, g *ledger.Genesis, epoch uint64, w io.Writer) (StateInfo, error) {
	if err := CheckExportable(st, epoch); err != nil {
		return StateInfo{}, fmt.Errorf("export: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	gh := g.Hash()
	bw.WriteString(stateFileMagic)
	bw.Write(gh[:])
	bw.Write(binary.BigEndian.AppendUint64(nil, epoch))
	var last checkpoint.Header
	for ep := uint64(1); ep <= epoch; ep++ {
		c, err := certifiedFromStore(st, ep)
		if err != nil {
			return StateInfo{}, fmt.Errorf("export: %w", err)
		}
		writeRecord(bw, c.Header.Encode())
		writeRecord(bw, c.Certificate.Encode())
		last = c.Header
	}
	state, err := g.OpenState(st, last.StateRoot)
	if err != nil {
		return StateInfo{}, fmt.Errorf("export: open state of epoch %d: %w", epoch, err)
	}
	var count uint64
	var rec [1 + accountRecordBytes]byte
	var werr error
	err = state.ForEachAccount(ledger.Address{}, func(a ledger.Address, acct ledger.Account) bool {
		encodeAccountRecord(rec[:], a, acct)
		_, werr = bw.Write(rec[:])
		count++
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return StateInfo{}, fmt.Errorf("export: accounts of epoch %d: %w", epoch, err)
	}
	bw.WriteByte(0)
	bw.Write(binary.BigEndian.AppendUint64(nil, count))
	if err := bw.Flush(); err != nil {
		return StateInfo{}, fmt.Errorf("export: write: %w", err)
	}
	return StateInfo{Epoch: epoch, Hash: last.Hash(), StateRoot: last.StateRoot, Accounts: count}, nil
}

// CheckExportable reports, cheaply, whether epoch's state file can be
// written from st: epoch >= 1, at or below the head, certified, and the
// store holds the certified chain from epoch 1 (not bootstrapped later).
func CheckExportable(st *store.Store, epoch uint64) error {
	if epoch == 0 {
		return errors.New("epoch must be at least 1 (epoch 0 is the genesis file)")
	}
	head, ok, err := st.Head()
	if err != nil {
		return err
	}
	if !ok || head.Epoch < epoch {
		return fmt.Errorf("epoch %d is above this store's head %d: %w", epoch, head.Epoch, ErrNoCertificate)
	}
	if _, err := st.Certificate(epoch); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("epoch %d: %w", epoch, ErrNoCertificate)
	} else if err != nil {
		return err
	}
	if _, err := st.Certificate(1); errors.Is(err, store.ErrNotFound) {
		return ErrNoHistory
	} else if err != nil {
		return err
	}
	return nil
}

// LatestCertified is the highest epoch at or below st's head with a
// certificate (0 if none).
func LatestCertified(st *store.Store) (uint64, error) {
	head, ok, err := st.Head()
	if err != nil || !ok {
		return 0, err
	}
	for ep := head.Epoch; ep >= 1; ep-- {
		_, err := st.Certificate(ep)
		if err == nil {
			return ep, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
	}
	return 0, nil
}

// certifiedFromStore reads and decodes epoch's header and certificate.
func certifiedFromStore(st *store.Store, ep uint64) (checkpoint.Certified, error) {
	rawH, err := st.Checkpoint(ep)
	if err != nil {
		return checkpoint.Certified{}, fmt.Errorf("checkpoint of epoch %d: %w", ep, err)
	}
	rawC, err := st.Certificate(ep)
	if errors.Is(err, store.ErrNotFound) {
		return checkpoint.Certified{}, fmt.Errorf("epoch %d: %w", ep, ErrNoCertificate)
	} else if err != nil {
		return checkpoint.Certified{}, err
	}
	h, err := checkpoint.DecodeHeader(rawH)
	if err != nil {
		return checkpoint.Certified{}, fmt.Errorf("stored checkpoint %d: %w", ep, err)
	}
	c, err := checkpoint.DecodeCertificate(rawC)
	if err != nil {
		return checkpoint.Certified{}, fmt.Errorf("stored certificate %d: %w", ep, err)
	}
	return checkpoint.Certified{Header: h, Certificate: c}, nil
}

func writeRecord(w *bufio.Writer, b []byte) {
	w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	w.Write(b)
}

// encodeAccountRecord writes 0x01, address, balance, nonce into b (37 bytes).
// The value is ledger's trie encoding of an account (balance | nonce).
func encodeAccountRecord(b []byte, a ledger.Address, acct ledger.Account) {
	b[0] = 1
	copy(b[1:21], a[:])
	binary.BigEndian.PutUint64(b[21:29], acct.Balance)
	binary.BigEndian.PutUint64(b[29:37], acct.Nonce)
}

// VerifiedState is a state that verified against the genesis: the certified
// checkpoint and the trie nodes that rebuild its state_root.
type VerifiedState struct {
	Certified checkpoint.Certified
	Nodes     map[ledger.Hash][]byte
	Accounts  uint64
}

// Info summarizes v.
func (v *VerifiedState) Info() StateInfo {
	return StateInfo{Epoch: v.Certified.Header.Epoch, Hash: v.Certified.Header.Hash(),
		StateRoot: v.Certified.Header.StateRoot, Accounts: v.Accounts}
}

// ReadStateFile reads and verifies a state file against g: the chain of
// certified checkpoints from the genesis, and the accounts against the
// last checkpoint's state_root. Any error wraps ErrStateFile.
func ReadStateFile(g *ledger.Genesis, r io.Reader) (*VerifiedState, error) {
	v, err := readStateFile(g, bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStateFile, err)
	}
	return v, nil
}

func readStateFile(g *ledger.Genesis, r *bufio.Reader) (*VerifiedState, error) {
	var fixed [len(stateFileMagic) + 32 + 8]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, fmt.Errorf("read file header: %w", err)
	}
	if string(fixed[:len(stateFileMagic)]) != stateFileMagic {
		return nil, errors.New("not a ledgerd state file (bad magic)")
	}
	if gh := ledger.Hash(fixed[16:48]); gh != g.Hash() {
		return nil, fmt.Errorf("file is for genesis %s, this node's genesis is %s", gh, g.Hash())
	}
	epoch := binary.BigEndian.Uint64(fixed[48:])
	if epoch == 0 {
		return nil, errors.New("epoch 0 in file (nothing to import)")
	}
	var prev *checkpoint.Header
	var last checkpoint.Certified
	for ep := uint64(1); ep <= epoch; ep++ {
		rawH, err := readRecord(r)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", ep, err)
		}
		rawC, err := readRecord(r)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", ep, err)
		}
		c, err := decodeCertified(rawH, rawC)
		if err != nil {
			return nil, fmt.Errorf("epoch %d: %w", ep, err)
		}
		if err := checkpoint.VerifyChain(g, prev, []checkpoint.Certified{c}); err != nil {
			return nil, fmt.Errorf("chain does not verify against the genesis: %w", err)
		}
		last = c
		prev = &last.Header
	}
	b := ledger.NewStateBuilder(MaxStateAccounts)
	var rec [accountRecordBytes]byte
	for {
		tag, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("accounts: truncated after %d accounts: %w", b.Count(), err)
		}
		if tag == 0 {
			break
		}
		if tag != 1 {
			return nil, fmt.Errorf("accounts: bad record tag %d after %d accounts", tag, b.Count())
		}
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return nil, fmt.Errorf("accounts: truncated record %d: %w", b.Count(), err)
		}
		a, acct := decodeAccountRecord(rec[:])
		if err := b.Add(a, acct); err != nil {
			return nil, fmt.Errorf("accounts: %w", err)
		}
	}
	var cnt [8]byte
	if _, err := io.ReadFull(r, cnt[:]); err != nil {
		return nil, fmt.Errorf("accounts: truncated count: %w", err)
	}
	if n := binary.BigEndian.Uint64(cnt[:]); n != b.Count() {
		return nil, fmt.Errorf("accounts: file says %d accounts, holds %d", n, b.Count())
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, errors.New("trailing bytes after the account count")
	}
	if root := b.Root(); root != last.Header.StateRoot {
		return nil, fmt.Errorf("accounts rebuild state root %s, the certified checkpoint of epoch %d has %s", root, epoch, last.Header.StateRoot)
	}
	return &VerifiedState{Certified: last, Nodes: b.Nodes(), Accounts: b.Count()}, nil
}

func decodeAccountRecord(b []byte) (ledger.Address, ledger.Account) {
	return ledger.Address(b[:20]), ledger.Account{Balance: binary.BigEndian.Uint64(b[20:28]), Nonce: binary.BigEndian.Uint64(b[28:36])}
}

func readRecord(r *bufio.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, fmt.Errorf("truncated: %w", err)
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > maxRecordBytes {
		return nil, fmt.Errorf("record of %d bytes, limit %d", n, maxRecordBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("truncated: %w", err)
	}
	return b, nil
}

func decodeCertified(rawH, rawC []byte) (checkpoint.Certified, error) {
	h, err := checkpoint.DecodeHeader(rawH)
	if err != nil {
		return checkpoint.Certified{}, err
	}
	c, err := checkpoint.DecodeCertificate(rawC)
	if err != nil {
		return checkpoint.Certified{}, err
	}
	return checkpoint.Certified{Header: h, Certificate: c}, nil
}

// Install bootstraps st at v's epoch: certificate, then the epoch
// commit (trie nodes, checkpoint, genesis marker), then fsync. A crash
// before the commit's head write leaves the store without a head, i.e. as
// fresh as before (the stray certificate is harmless and overwritten).
func Install(st *store.Store, g *ledger.Genesis, v *VerifiedState) error {
	h := v.Certified.Header
	if err := st.PutCertificate(h.Epoch, v.Certified.Certificate.Encode()); err != nil {
		return err
	}
	gh := g.Hash()
	err := st.CommitEpoch(store.EpochCommit{Epoch: h.Epoch, Nodes: v.Nodes, StateRoot: h.StateRoot,
		Checkpoint: h.Encode(), CheckpointHash: h.Hash(), Meta: map[string][]byte{store.MetaGenesisHash: gh[:]}})
	if err != nil {
		return err
	}
	return st.Sync()
}

// StoreIsEmpty reports whether st has no head and no entries.
func StoreIsEmpty(st *store.Store, validators int) (bool, error) {
	if _, ok, err := st.Head(); err != nil || ok {
		return false, err
	}
	for k := range validators {
		if last, err := st.LastEntrySeq(uint32(k)); err != nil || last > 0 {
			return false, err
		}
	}
	return true, nil
}
