package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/ethereum/go-ethereum/common"
)

// Sentinel errors. Badger's errors are translated to these at the package
// boundary; match them with errors.Is.
var (
	// ErrNotFound means the key is absent, or belongs to an epoch above the
	// committed head.
	ErrNotFound = errors.New("store: not found")
	// ErrLocked means another process (or another Store in this process)
	// holds the directory.
	ErrLocked = errors.New("store: directory is locked by another process")
	// ErrCorrupt means the directory is not a ledgerd store (foreign files,
	// another format version) or its content is damaged.
	ErrCorrupt = errors.New("store: corrupt or foreign store")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidArgument wraps every rejected argument (zero seq, empty
	// range, bad limits, oversize keys).
	ErrInvalidArgument = errors.New("store: invalid argument")
	// ErrExists means a write-once key (stream entry, vote) already holds
	// different bytes. Rewriting identical bytes succeeds.
	ErrExists = errors.New("store: a different value is already stored")
	// ErrEpochOrder means CommitEpoch was given an epoch at or below the head.
	ErrEpochOrder = errors.New("store: epoch not above the head")
	// ErrTooLarge means an atomic write (the head update of CommitEpoch with
	// its Meta, or a single put) does not fit one Badger transaction.
	ErrTooLarge = errors.New("store: write too large for one transaction")
)

// markerFile names the file that marks a directory as a ledgerd store. It
// is written before Badger creates anything, carries the format version, and
// is also the file the store flocks to exclude other processes.
const markerFile = "LEDGERD_STORE"

// formatVersion is the content of markerFile and of the in-database format
// key. Bump it on any incompatible key or value layout change.
const formatVersion = "ledgerd-store v1\n"

// Key prefixes. Integers are big-endian so that key order is numeric order.
const (
	pFormat    = 0x00 // pFormat "format" -> formatVersion
	pHead      = 0x01 // pHead -> epoch(8) | checkpoint hash(32) | state root(32)
	pNode      = 'n'  // hash(32) -> trie node
	pEntry     = 'e'  // origin(4) seq(8) -> entry
	pEntryHigh = 'E'  // origin(4) -> highest contiguous seq(8)
	pVote      = 'v'  // epoch(8) validator(4) -> vote
	pRound     = 'R'  // epoch(8) validator(4) round(4) kind(1) -> round message
	pCkpt      = 'c'  // epoch(8) -> checkpoint hash(32) | header
	pCkptHash  = 'h'  // hash(32) -> epoch(8)
	pReceipts  = 'r'  // epoch(8) -> receipts
	pTx        = 't'  // tx hash(32) epoch(8) -> caller's value
	pTxEpoch   = 'T'  // epoch(8) tx hash(32) -> nothing (finds an epoch's tx keys)
	pSnapshot  = 's'  // epoch(8) -> snapshot record
	pCert      = 'z'  // epoch(8) -> certificate
	pMeta      = 'm'  // key -> value
)

// MaxMetaKeyLen bounds the length of a metadata key, in bytes.
const MaxMetaKeyLen = 256

var formatKey = []byte{pFormat, 'f', 'o', 'r', 'm', 'a', 't'}

// Head is the last committed epoch: everything CommitEpoch wrote for it and
// for earlier epochs is readable; nothing of a later epoch is.
type Head struct {
	Epoch          uint64
	CheckpointHash common.Hash
	StateRoot      common.Hash
}

// Store is a ledgerd node's Badger database. It is safe for concurrent use;
// CommitEpoch calls are serialized. Values passed in are not retained after
// a method returns; values returned are copies owned by the caller.
type Store struct {
	// mu guards closed and db's lifetime: every operation holds it for
	// reading, Close for writing.
	mu     sync.RWMutex
	closed bool
	db     *badger.DB
	lock   *os.File // markerFile, flocked while open
	dir    string
	log    *slog.Logger
	// commitMu serializes CommitEpoch so that the head only moves forward.
	commitMu sync.Mutex
	// rmwMu serializes the read-modify-write transactions (PutEntry,
	// PutVote). Badger's conflict detection is off (it costs an allocation
	// per written key), so this mutex is what makes them safe.
	rmwMu sync.Mutex
	// head caches the committed head; nil when no epoch was ever committed.
	// It changes only after the Badger transaction that moved it commits.
	head atomic.Pointer[Head]
	// absDir is dir made absolute, to find the store's file mappings.
	absDir string
	// trim* belong to the resident-page trimmer (trim.go).
	trim               trimCounters
	trimStop, trimDone chan struct{}
	trimOnce           sync.Once
}

// Open opens the store in dir, creating it if dir is absent or empty. It
// fails with ErrLocked if another process holds dir, and with ErrCorrupt,
// leaving dir unchanged, if dir holds anything that is not a ledgerd store
// of this format version.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: empty directory name", ErrInvalidArgument)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fresh, err := checkMarker(dir)
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := writeMarker(dir); err != nil {
			return nil, err
		}
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	if err := removeEmptyLogs(dir, logger); err != nil {
		_ = lock.Close()
		return nil, err
	}
	if opts.MemTableSize, err = memtableFloor(dir, opts.MemTableSize); err != nil {
		_ = lock.Close()
		return nil, err
	}
	db, err := badger.Open(badgerOptions(dir, opts, logger))
	if err != nil {
		_ = lock.Close()
		return nil, mapOpenError(dir, err)
	}
	s := &Store{db: db, lock: lock, dir: dir, absDir: absDir, log: logger}
	if err := s.initFormat(); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.loadHead(); err != nil {
		_ = s.Close()
		return nil, err
	}
	if opts.TrimInterval > 0 {
		s.startTrimmer(opts.TrimInterval)
	}
	return s, nil
}

// checkMarker reports whether dir is fresh (absent or empty) and fails with
// ErrCorrupt if it is neither fresh nor marked as a store of this version.
func checkMarker(dir string) (fresh bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("open store %s: %w", dir, err)
	case len(entries) == 0:
		return true, nil
	case len(entries) == 1 && entries[0].Name() == markerFile+".tmp":
		return true, nil // a crash inside writeMarker
	}
	content, err := os.ReadFile(filepath.Join(dir, markerFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("%w: %s is not empty and has no %s file", ErrCorrupt, dir, markerFile)
	case err != nil:
		return false, fmt.Errorf("open store %s: %w", dir, err)
	case string(content) != formatVersion:
		return false, fmt.Errorf("%w: %s: marker %q, want %q", ErrCorrupt, dir, content, formatVersion)
	}
	return false, nil
}

// writeMarker creates dir and its marker file durably, before Badger
// writes anything, so that a directory with Badger files but no marker is
// never ours.
func writeMarker(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create store %s: %w", dir, err)
	}
	return writeDurably(dir, markerFile, formatVersion)
}

// writeDurably replaces dir/name with content: a temporary file, synced,
// renamed over it, and the directory synced. A crash leaves the old file or
// the new one, and perhaps the temporary file.
func writeDurably(dir, name, content string) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("install %s: %w", filepath.Join(dir, name), err)
	}
	return syncDir(dir)
}

// memtableFile records the largest MemTableSize the store was opened with.
const memtableFile = "LEDGERD_MEMTABLE"

// memtableFloor returns the memtable size to open dir with: size, or the
// largest size dir was opened with before if that is larger, which it then
// records (durably, before Badger uses it). Badger replays an unflushed
// memtable log into an arena sized from the opener's MemTableSize and ends
// the process when the log does not fit, so a store that a validator wrote
// with larger memtables (Options.Staggered) must not be reopened with
// smaller ones, by `ledgerd state export` say. A store without the record
// was written with at most the default 4 MiB.
func memtableFloor(dir string, size int64) (int64, error) {
	raw, err := os.ReadFile(filepath.Join(dir, memtableFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("open store %s: %w", dir, err)
	default:
		rec, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || rec < 1<<20 || rec > 1<<30 {
			return 0, fmt.Errorf("%w: %s: %s holds %q, not a memtable size", ErrCorrupt, dir, memtableFile, raw)
		}
		if rec >= size {
			return rec, nil
		}
	}
	return size, writeDurably(dir, memtableFile, strconv.FormatInt(size, 10))
}

// removeEmptyLogs deletes zero-length memtable WAL (.mem) and value-log
// (.vlog) files. A kill between Badger creating such a file and sizing it
// leaves one behind, and badger.Open then fails with "Create a new file"
// (z.NewFile; https://github.com/dgraph-io/badger/issues/2207, seen in the
// crash test). A zero-length log holds no data, so deleting it loses
// nothing; Badger itself deletes empty logs on open.
func removeEmptyLogs(dir string, logger *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("open store %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || (filepath.Ext(name) != ".mem" && filepath.Ext(name) != ".vlog") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("open store %s: %w", dir, err)
		}
		if info.Size() != 0 {
			continue
		}
		logger.Warn("removing empty log file left by a crash", "file", name)
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("open store %s: remove empty %s: %w", dir, name, err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync store dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync store dir: %w", err)
	}
	return nil
}

func badgerOptions(dir string, o Options, logger *slog.Logger) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithValueThreshold(o.ValueThreshold).
		WithBaseTableSize(o.BaseTableSize).
		WithNumLevelZeroTables(o.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(o.NumLevelZeroTablesStall).
		WithNumCompactors(o.NumCompactors).
		WithSyncWrites(o.SyncWrites).
		// Trie nodes and hashes do not compress; and Badger accepts
		// BlockCacheSize 0 only without compression.
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithNumGoroutines(2).
		// Read-modify-write transactions are serialized by Store.rmwMu and
		// CommitEpoch by commitMu; conflict tracking would only cost.
		WithDetectConflicts(false).
		WithLogger(badgerLogger{logger})
	bo.TableSizeMultiplier = o.TableSizeMultiplier // no With method in Badger v4
	return bo
}

// mapOpenError turns a badger.Open failure into ErrLocked, ErrCorrupt or an
// environment error.
func mapOpenError(dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open store %s: %w", dir, err)
	case bytes.Contains([]byte(err.Error()), []byte("Cannot acquire directory lock")):
		return fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	default:
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, dir, err)
	}
}

// initFormat writes the in-database format key into a new database, and
// checks it in an existing one.
func (s *Store) initFormat() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey)
		if err == nil {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("%w: read format key: %v", ErrCorrupt, err)
			}
			if string(v) != formatVersion {
				return fmt.Errorf("%w: %s: format %q, want %q", ErrCorrupt, s.dir, v, formatVersion)
			}
			return nil
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: read format key: %v", ErrCorrupt, err)
		}
		// No format key: only an empty database (a crash between the
		// marker file and this write) may become ours.
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		if it.Valid() {
			return fmt.Errorf("%w: %s: database has keys but no format key", ErrCorrupt, s.dir)
		}
		return txn.Set(formatKey, []byte(formatVersion))
	})
}

func (s *Store) loadHead() error {
	v, err := s.get(headKey())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	h, err := decodeHead(v)
	if err != nil {
		return err
	}
	s.head.Store(&h)
	return nil
}

// Close flushes and closes the database and releases the directory. It
// waits for operations in progress; later calls return ErrClosed, and a
// second Close returns nil.
func (s *Store) Close() error {
	s.trimOnce.Do(s.stopTrimmer) // before mu: the trimmer takes it for reading
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.db.Close()
	if lerr := s.lock.Close(); err == nil && lerr != nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("close store %s: %w", s.dir, err)
	}
	return nil
}

// Sync makes every write so far durable against power loss (fsync). Call
// it after CommitEpoch and before signing or sending a vote.
func (s *Store) Sync() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync store %s: %w", s.dir, err)
	}
	return nil
}

// RunGC reclaims value-log space left by overwritten large values
// (receipts, snapshots). Badger never does this by itself; the node calls it
// from time to time, e.g. after pruning. It stops after maxRounds rewrites.
func (s *Store) RunGC(maxRounds int) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	for range maxRounds {
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("value log gc %s: %w", s.dir, err)
		}
	}
	return nil
}

// acquire takes the read side of mu and fails if the store is closed. On
// success the caller must s.mu.RUnlock().
func (s *Store) acquire() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// get returns a copy of key's value, or ErrNotFound.
func (s *Store) get(key []byte) ([]byte, error) {
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store get %x: %w", key, err)
	}
	return v, nil
}

// update runs fn in one Badger transaction and maps ErrTxnTooBig to
// ErrTooLarge.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	err := s.db.Update(fn)
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	return err
}

// Node returns the trie node with the given hash. It implements
// ledger.NodeDB. Nodes are content-addressed and shared between epochs, so
// they are not gated by the head: a node written by an unfinished commit is
// reachable only from a root that no committed head names.
func (s *Store) Node(hash common.Hash) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	v, err := s.get(nodeKey(hash))
	if err != nil {
		return nil, fmt.Errorf("trie node %x: %w", hash, err)
	}
	return v, nil
}

// Metadata keys the node writes: the hash of the genesis the data
// directory belongs to (every epoch commit carries it, so a directory of
// another chain is refused), and the genesis state root.
const (
	MetaGenesisHash = "genesis_hash"
	MetaGenesisRoot = "genesis_root"
)

// PutMeta stores a small metadata value under key, atomically.
func (s *Store) PutMeta(key string, v []byte) error {
	if err := checkMetaKey(key); err != nil {
		return err
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	k := metaKey(key)
	val := bytes.Clone(v)
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(k, val) }); err != nil {
		return fmt.Errorf("put meta %q: %w", key, err)
	}
	return nil
}

// Meta returns the metadata value stored under key, or ErrNotFound.
func (s *Store) Meta(key string) ([]byte, error) {
	if err := checkMetaKey(key); err != nil {
		return nil, err
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	v, err := s.get(metaKey(key))
	if err != nil {
		return nil, fmt.Errorf("meta %q: %w", key, err)
	}
	return v, nil
}

func checkMetaKey(key string) error {
	if key == "" || len(key) > MaxMetaKeyLen {
		return fmt.Errorf("%w: meta key length %d not in [1, %d]", ErrInvalidArgument, len(key), MaxMetaKeyLen)
	}
	return nil
}

// Key builders.

func headKey() []byte { return []byte{pHead} }

func nodeKey(h common.Hash) []byte { return append([]byte{pNode}, h[:]...) }

func metaKey(k string) []byte { return append([]byte{pMeta}, k...) }

func epochKey(prefix byte, epoch uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, epoch)
}

func entryKey(origin uint32, seq uint64) []byte {
	k := binary.BigEndian.AppendUint32([]byte{pEntry}, origin)
	return binary.BigEndian.AppendUint64(k, seq)
}

func entryHighKey(origin uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{pEntryHigh}, origin)
}

func roundKey(epoch uint64, validator, round uint32, kind byte) []byte {
	k := binary.BigEndian.AppendUint32(epochKey(pRound, epoch), validator)
	return append(binary.BigEndian.AppendUint32(k, round), kind)
}

func voteKey(epoch uint64, validator uint32) []byte {
	return binary.BigEndian.AppendUint32(epochKey(pVote, epoch), validator)
}

func ckptHashKey(h common.Hash) []byte { return append([]byte{pCkptHash}, h[:]...) }

func txKey(h common.Hash, epoch uint64) []byte {
	k := append([]byte{pTx}, h[:]...)
	return binary.BigEndian.AppendUint64(k, epoch)
}

func txEpochKey(epoch uint64, h common.Hash) []byte {
	return append(epochKey(pTxEpoch, epoch), h[:]...)
}

func encodeHead(h Head) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 72), h.Epoch)
	b = append(b, h.CheckpointHash[:]...)
	return append(b, h.StateRoot[:]...)
}

func decodeHead(b []byte) (Head, error) {
	if len(b) != 72 {
		return Head{}, fmt.Errorf("%w: head record of %d bytes, want 72", ErrCorrupt, len(b))
	}
	var h Head
	h.Epoch = binary.BigEndian.Uint64(b)
	copy(h.CheckpointHash[:], b[8:40])
	copy(h.StateRoot[:], b[40:72])
	return h, nil
}

// badgerLogger forwards Badger's warnings and errors to slog; its info and
// debug chatter is dropped.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Infof(string, ...any)        {}
func (b badgerLogger) Debugf(string, ...any)       {}
