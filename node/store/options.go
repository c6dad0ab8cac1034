package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Options sets Badger's memory profile and the store's durability policy.
// Every field is explicit (no hidden library default) because several nodes
// share one machine and Badger's own defaults use 0.7 GiB or more
// (docs/store.md). The zero value is not valid: start from
// DefaultOptions.
type Options struct {
	// MemTableSize is the arena size of one memtable, in bytes. The largest
	// Badger transaction is 15 % of it, so it also bounds how many keys one
	// atomic write can hold (~600 KB of small keys at 4 MiB). Default 4 MiB
	// (2 MiB until the third session: smaller memtables and tables cost
	// more CPU than they save memory, see BaseTableSize).
	MemTableSize int64
	// NumMemtables is how many memtables (active plus flushing) may exist at
	// once. Default 2.
	NumMemtables int
	// BlockCacheSize is the size of the SSTable block cache, in bytes; 0
	// disables it. Default 4 MiB.
	BlockCacheSize int64
	// IndexCacheSize bounds the cache of table indexes and bloom filters, in
	// bytes. 0 would mean unbounded in Badger, so it must be positive.
	// Default 2 MiB.
	IndexCacheSize int64
	// ValueLogFileSize is the size of one value-log file, in bytes, in
	// [1 MiB, 2 GiB). Default 32 MiB.
	ValueLogFileSize int64
	// ValueThreshold is the value size, in bytes, from which a value is kept
	// in the value log instead of the LSM tree. At most 15 % of
	// MemTableSize. Default 200 bytes: account leaves and small metadata
	// stay in the tree; trie branch nodes, stream entries, tx index entries,
	// receipts and snapshots go to the value log, so compaction moves keys
	// and pointers instead of values. Measured on a 4-validator devnet at
	// 3,000 tx/s: validator CPU -21 % and lower latency against 16 KiB
	// (docs/bench-store.md).
	ValueThreshold int64
	// BaseTableSize is the target SSTable size, in bytes. Default 1 MiB
	// (2 MiB in the third to sixth sessions, 512 KiB before). With
	// TableSizeMultiplier 1 it is every level's table size, and it sizes the
	// buffers Badger keeps for building tables: the smaller, the less memory
	// Badger holds (docs/bench-store.md, seventh session).
	BaseTableSize int64
	// TableSizeMultiplier is how much larger each LSM level's tables are
	// than the level above's, in [1, 10]. Default 1 (Badger's is 2). Badger
	// keeps up to 8 table-builder buffers alive between builds, each
	// starting at twice the table size and grown to hold the table it
	// built; with growing tables the deep levels' 4–16 MiB tables left
	// buffers of twice that behind, 48–72 MB of a validator's ~100 MB Go
	// heap at 5,000 tx/s. Measured with the store alone at 10,000
	// transfers' worth of data per second: live heap after GC 45–49 MiB
	// against 165–169 MiB, with 1 MiB tables (docs/bench-store.md).
	TableSizeMultiplier int
	// NumLevelZeroTables is the L0 table count that triggers compaction.
	// Default 2.
	NumLevelZeroTables int
	// NumLevelZeroTablesStall is the L0 table count at which writes stall.
	// Must exceed NumLevelZeroTables. Default 8.
	NumLevelZeroTablesStall int
	// NumCompactors is the number of compaction goroutines; Badger needs at
	// least 2. Default 2.
	NumCompactors int
	// SyncWrites makes every write fsync before returning. Default false:
	// writes survive a process crash without it, and the node calls
	// Store.Sync before any vote or ack that must survive power loss.
	SyncWrites bool
	// TrimInterval is how often the store asks the kernel to reclaim the
	// resident pages of its mapped files (trim.go); 0 disables it. Default
	// 1 s: a trim costs a few milliseconds, and Badger can write tens of
	// MiB of tables per second while compacting.
	TrimInterval time.Duration
	// Logger receives Badger's warnings and errors. Nil discards them.
	Logger *slog.Logger
}

// DefaultOptions is the small profile, for several nodes on one machine:
// small memtables, caches and tables instead of Badger's 0.7 GiB defaults.
// docs/bench-store.md has its measured resident memory.
func DefaultOptions() Options {
	return Options{
		MemTableSize:            4 << 20,
		NumMemtables:            2,
		BlockCacheSize:          4 << 20,
		IndexCacheSize:          2 << 20,
		ValueLogFileSize:        32 << 20,
		ValueThreshold:          200,
		BaseTableSize:           1 << 20,
		TableSizeMultiplier:     1,
		NumLevelZeroTables:      2,
		NumLevelZeroTablesStall: 8,
		NumCompactors:           2,
		TrimInterval:            time.Second,
	}
}

// Staggered returns o with the memtable of the i-th node on a network
// enlarged by i mod 4 eighths. Validators store the same data at the same
// pace, so with equal options they flush memtables and compact their LSM
// trees in the same epoch, and that epoch's votes all wait for it. With
// memtables of 4, 4.5, 5 and 5.5 MiB their flushes drift apart within a
// few memtables (docs/bench-store.md, sixth session).
func (o Options) Staggered(i int) Options {
	o.MemTableSize += o.MemTableSize * int64(i%4) / 8
	return o
}

// ErrInvalidOptions is wrapped by Options.Validate for every bad field.
var ErrInvalidOptions = errors.New("store: invalid options")

// Validate checks each field's range and the cross-field constraints Badger
// enforces only at Open (or by panicking).
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.MemTableSize < 1<<20 || o.MemTableSize > 1<<30:
		return bad("MemTableSize %d not in [1 MiB, 1 GiB]", o.MemTableSize)
	case o.NumMemtables < 1 || o.NumMemtables > 16:
		return bad("NumMemtables %d not in [1, 16]", o.NumMemtables)
	case o.BlockCacheSize < 0:
		return bad("BlockCacheSize %d is negative", o.BlockCacheSize)
	case o.IndexCacheSize <= 0:
		return bad("IndexCacheSize %d must be positive (0 means unbounded in Badger)", o.IndexCacheSize)
	case o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30:
		return bad("ValueLogFileSize %d not in [1 MiB, 2 GiB)", o.ValueLogFileSize)
	case o.ValueThreshold < 1:
		return bad("ValueThreshold %d must be positive", o.ValueThreshold)
	case o.ValueThreshold > o.MemTableSize*15/100:
		return bad("ValueThreshold %d exceeds 15%% of MemTableSize %d (Badger's max batch size)",
			o.ValueThreshold, o.MemTableSize)
	case o.BaseTableSize < 64<<10 || o.BaseTableSize > 1<<30:
		return bad("BaseTableSize %d not in [64 KiB, 1 GiB]", o.BaseTableSize)
	case o.TableSizeMultiplier < 1 || o.TableSizeMultiplier > 10:
		return bad("TableSizeMultiplier %d not in [1, 10]", o.TableSizeMultiplier)
	case o.NumLevelZeroTables < 1:
		return bad("NumLevelZeroTables %d must be at least 1", o.NumLevelZeroTables)
	case o.NumLevelZeroTablesStall <= o.NumLevelZeroTables:
		return bad("NumLevelZeroTablesStall %d must exceed NumLevelZeroTables %d",
			o.NumLevelZeroTablesStall, o.NumLevelZeroTables)
	case o.NumCompactors < 2 || o.NumCompactors > 16:
		return bad("NumCompactors %d not in [2, 16]", o.NumCompactors)
	case o.TrimInterval < 0:
		return bad("TrimInterval %v is negative", o.TrimInterval)
	}
	return nil
}
