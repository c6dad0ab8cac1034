package node

import (
	"errors"
	"fmt"
	"io"

	"github.com/ledgerd/ledgerd/node/statesync"
	"github.com/ledgerd/ledgerd/node/store"
)

// StateInfo describes an exported or imported state.
type StateInfo = statesync.StateInfo

// ErrNodeRunning: the store is locked by a running node.
var ErrNodeRunning = errors.New("the data directory is in use by a running node: stop it first (the store lock allows one process)")

// openStoreFor opens cfg's store, mapping a held lock to ErrNodeRunning.
func openStoreFor(cfg Config) (*store.Store, error) {
	st, err := store.Open(cfg.Path(cfg.DataDir), store.DefaultOptions())
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s: %w", cfg.Path(cfg.DataDir), ErrNodeRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path(cfg.DataDir), err)
	}
	return st, nil
}

// ExportStateHome writes epoch's state file from the (stopped) node of
// cfg; epoch 0 means the latest certified epoch of its store.
func ExportStateHome(cfg Config, epoch uint64, w io.Writer) (StateInfo, error) {
	g, err := LoadGenesis(cfg.Path(cfg.GenesisFile))
	if err != nil {
		return StateInfo{}, err
	}
	st, err := openStoreFor(cfg)
	if err != nil {
		return StateInfo{}, err
	}
	defer st.Close()
	if epoch == 0 {
		if epoch, err = statesync.LatestCertified(st); err != nil {
			return StateInfo{}, err
		}
		if epoch == 0 {
			return StateInfo{}, fmt.Errorf("export: no final epoch in this store: %w", statesync.ErrNoCertificate)
		}
	}
	return statesync.ExportState(st, g, epoch, w)
}

// ImportStateHome verifies a state file against cfg's genesis and
// bootstraps cfg's empty data directory at its epoch. The file is verified
// completely before the store is opened: a refused file changes nothing.
func ImportStateHome(cfg Config, r io.Reader) (StateInfo, error) {
	g, err := LoadGenesis(cfg.Path(cfg.GenesisFile))
	if err != nil {
		return StateInfo{}, err
	}
	v, err := statesync.ReadStateFile(g, r)
	if err != nil {
		return StateInfo{}, err
	}
	st, err := openStoreFor(cfg)
	if err != nil {
		return StateInfo{}, err
	}
	defer st.Close()
	empty, err := statesync.StoreIsEmpty(st, len(g.Validators))
	if err != nil {
		return StateInfo{}, err
	}
	if !empty {
		return StateInfo{}, fmt.Errorf("%s: %w", cfg.Path(cfg.DataDir), statesync.ErrStoreNotEmpty)
	}
	if err := statesync.Install(st, g, v); err != nil {
		return StateInfo{}, fmt.Errorf("install state: %w", err)
	}
	return v.Info(), nil
}
