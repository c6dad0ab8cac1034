package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// memJournal is an in-memory Journal. A crash keeps everything written
// (kill -9, not power loss). It refuses what an honest shell never does: a
// second own entry for one seq, a second own vote for one epoch, an epoch
// committed out of order.
type memJournal struct {
	g       *ledger.Genesis
	self    uint32
	entries [][]stream.Entry // by origin; [i] has seq i+1
	headers []Header         // committed; [i] is epoch i+1
	trie    *ledger.MemNodeDB
	votes   map[uint64]map[uint32]Vote
	rounds  map[uint64][]RoundMsg
	certs   map[uint64]Certified
	// readErr, when set, fails every read.
	readErr error
	// effect, when set, runs before every write and may refuse it.
	effect func() error
}

func newMemJournal(g *ledger.Genesis, self uint32) *memJournal {
	return &memJournal{g: g, self: self, entries: make([][]stream.Entry, len(g.Validators)), trie: ledger.NewMemNodeDB(),
		votes: map[uint64]map[uint32]Vote{}, rounds: map[uint64][]RoundMsg{}, certs: map[uint64]Certified{}}
}

func (j *memJournal) write() error {
	if j.effect != nil {
		return j.effect()
	}
	return nil
}

func (j *memJournal) Head() (Header, error) {
	if j.readErr != nil {
		return Header{}, j.readErr
	}
	if len(j.headers) == 0 {
		return Header{}, nil
	}
	return j.headers[len(j.headers)-1], nil
}

func (j *memJournal) State(head Header) (*ledger.State, error) {
	if j.readErr != nil {
		return nil, j.readErr
	}
	if head.Epoch == 0 {
		return ledger.GenesisState(j.g, j.trie)
	}
	return j.g.OpenState(j.trie, head.StateRoot)
}

func (j *memJournal) Header(epoch uint64) (Header, error) {
	if j.readErr != nil {
		return Header{}, j.readErr
	}
	if epoch == 0 || epoch > uint64(len(j.headers)) {
		return Header{}, ErrNotFound
	}
	return j.headers[epoch-1], nil
}

func (j *memJournal) LastFinal(head uint64) (uint64, error) {
	if j.readErr != nil {
		return 0, j.readErr
	}
	for ep := head; ep > 0; ep-- {
		if _, ok := j.certs[ep]; ok {
			return ep, nil
		}
	}
	return 0, nil
}

func (j *memJournal) Votes(epoch uint64) ([]Vote, error) {
	if j.readErr != nil {
		return nil, j.readErr
	}
	var out []Vote
	for _, k := range slices.Sorted(maps.Keys(j.votes[epoch])) {
		out = append(out, j.votes[epoch][k])
	}
	return out, nil
}

func (j *memJournal) Entry(origin uint32, seq uint64) (stream.Entry, error) {
	if j.readErr != nil {
		return stream.Entry{}, j.readErr
	}
	if seq == 0 || seq > uint64(len(j.entries[origin])) {
		return stream.Entry{}, ErrNotFound
	}
	return j.entries[origin][seq-1], nil
}

// putEntry stores an entry once: the same one again succeeds, another one
// for a stored (origin, seq) is equivocation.
func (j *memJournal) putEntry(e stream.Entry) error {
	list := &j.entries[e.Origin]
	switch {
	case e.Seq <= uint64(len(*list)):
		if !bytes.Equal((*list)[e.Seq-1].Encode(), e.Encode()) {
			return fmt.Errorf("equivocation: a second entry %d/%d", e.Origin, e.Seq)
		}
		return nil
	case e.Seq != uint64(len(*list))+1:
		return fmt.Errorf("entry %d/%d after %d", e.Origin, e.Seq, len(*list))
	}
	*list = append(*list, e)
	return nil
}

func (j *memJournal) PutOwnEntry(e stream.Entry) error {
	if err := j.write(); err != nil {
		return err
	}
	return j.putEntry(e)
}

func (j *memJournal) PutVote(v Vote) error {
	if v.Validator == j.self {
		if err := j.write(); err != nil {
			return err
		}
	}
	byValidator := j.votes[v.Epoch]
	if byValidator == nil {
		byValidator = map[uint32]Vote{}
		j.votes[v.Epoch] = byValidator
	}
	if old, ok := byValidator[v.Validator]; ok {
		if old.Hash != v.Hash && v.Validator == j.self {
			return fmt.Errorf("double sign: epoch %d voted %s, now %s", v.Epoch, old.Hash, v.Hash)
		}
		return nil
	}
	byValidator[v.Validator] = v
	return nil
}

func (j *memJournal) Rounds(epoch uint64) ([]RoundMsg, error) {
	if j.readErr != nil {
		return nil, j.readErr
	}
	return slices.Clone(j.rounds[epoch]), nil
}

func (j *memJournal) PutRound(m RoundMsg) error {
	if m.Validator == j.self {
		if err := j.write(); err != nil {
			return err
		}
		for _, old := range j.rounds[m.Epoch] {
			if old.Validator == m.Validator && old.Round == m.Round && old.Kind == m.Kind && !old.Value.Equal(m.Value) {
				return fmt.Errorf("double sign: epoch %d round %d %v", m.Epoch, m.Round, m.Kind)
			}
		}
	}
	j.rounds[m.Epoch] = append(j.rounds[m.Epoch], m)
	return nil
}

func (j *memJournal) CommitEpoch(r *EpochResult) error {
	if err := j.write(); err != nil {
		return err
	}
	if r.Header.Epoch != uint64(len(j.headers))+1 {
		return fmt.Errorf("commit epoch %d after %d", r.Header.Epoch, len(j.headers))
	}
	j.trie.PutAll(r.Nodes)
	j.headers = append(j.headers, r.Header)
	return nil
}

func (j *memJournal) PutCertified(c Certified) error {
	if err := j.write(); err != nil {
		return err
	}
	j.certs[c.Header.Epoch] = c
	delete(j.rounds, c.Header.Epoch)
	return nil
}

func (j *memJournal) Sync() error { return j.write() }

// shellNet is a lossless network of Shells: each destination gets every
// message in send order; a receiver that finds a gap in an origin's
// stream (a validator crashed between persisting and sending) repairs it
// from the origin's journal.
type shellNet struct {
	t        *testing.T
	tn       *testNet // genesis, keys, client
	journals []*memJournal
	shells   []*Shell
	inbox    [][]stream.Entry
	votes    [][]Vote
	rounds   [][]RoundMsg
	nowMs    int64
	// crashes counts the crashes injected; signed records every vote any
	// validator persisted or sent, to catch a second hash for one epoch.
	crashes int
	signed  map[[2]uint64]ledger.Hash
	// voteFilter, when set, sees every vote before its destination does
	// and may replace or drop it.
	voteFilter func(to int, v Vote) (Vote, bool)
}

type shellSender struct {
	net  *shellNet
	self int
}

func (s shellSender) SendEntry(e stream.Entry) error {
	if err := s.net.journals[s.self].write(); err != nil {
		return err
	}
	for j := range s.net.inbox {
		if j != s.self {
			s.net.inbox[j] = append(s.net.inbox[j], e)
		}
	}
	return nil
}

func (s shellSender) SendVote(v Vote) error {
	if err := s.net.journals[s.self].write(); err != nil {
		return err
	}
	s.net.noteSigned(v)
	for j := range s.net.votes {
		if j != s.self {
			s.net.votes[j] = append(s.net.votes[j], v)
		}
	}
	return nil
}

func (s shellSender) SendRound(m RoundMsg) error {
	if err := s.net.journals[s.self].write(); err != nil {
		return err
	}
	for j := range s.net.rounds {
		if j != s.self {
			s.net.rounds[j] = append(s.net.rounds[j], m)
		}
	}
	return nil
}

func (sn *shellNet) noteSigned(v Vote) {
	key := [2]uint64{uint64(v.Validator), v.Epoch}
	if h, ok := sn.signed[key]; ok && h != v.Hash {
		sn.t.Fatalf("validator %d signed %s and %s for epoch %d", v.Validator, h, v.Hash, v.Epoch)
	}
	sn.signed[key] = v.Hash
}

func newShellNet(t *testing.T, n int) *shellNet {
	tn := newTestNet(t, n)
	sn := &shellNet{t: t, tn: tn, inbox: make([][]stream.Entry, n), votes: make([][]Vote, n), rounds: make([][]RoundMsg, n),
		nowMs: tn.g.GenesisTimeMs, signed: map[[2]uint64]ledger.Hash{}}
	for i := 0; i < n; i++ {
		sn.journals = append(sn.journals, newMemJournal(tn.g, uint32(i)))
		sn.shells = append(sn.shells, nil)
		if err := sn.open(i); err != nil {
			t.Fatal(err)
		}
	}
	return sn
}

func (sn *shellNet) open(i int) error {
	sh, err := Open(ShellConfig{Machine: DefaultConfig(sn.tn.g, uint32(i)), Journal: sn.journals[i],
		Sender: shellSender{sn, i}, Signer: KeySigner{sn.tn.keys[i]}}, sn.nowMs)
	if err != nil {
		return err
	}
	sn.shells[i] = sh
	return nil
}

// done handles what a Shell method returned: a crash the journal injected
// restarts the validator from its journal; anything else fails the test.
func (sn *shellNet) done(i int, err error) {
	sn.t.Helper()
	if err == nil {
		return
	}
	if !errors.Is(err, errTestCrash) {
		sn.t.Fatalf("validator %d: %v", i, err)
	}
	sn.crashes++
	sn.journals[i].effect = nil
	if err := sn.open(i); err != nil {
		sn.t.Fatalf("reopen validator %d: %v", i, err)
	}
	sn.done(i, sn.shells[i].Tick(sn.nowMs))
}

var errTestCrash = errors.New("test crash")

// deliver hands every queued message to its destination until quiet.
func (sn *shellNet) deliver() {
	for progress := true; progress; {
		progress = false
		for j, sh := range sn.shells {
			for len(sn.inbox[j]) > 0 {
				progress = true
				e := sn.inbox[j][0]
				sn.inbox[j] = sn.inbox[j][1:]
				sn.receive(j, e)
				sh = sn.shells[j]
			}
			for len(sn.rounds[j]) > 0 {
				progress = true
				r := sn.rounds[j][0]
				sn.rounds[j] = sn.rounds[j][1:]
				err := sh.StepRound(r)
				if errors.Is(err, ErrRejected) {
					sn.t.Fatalf("validator %d rejected a round message of %d for epoch %d: %v", j, r.Validator, r.Epoch, err)
				}
				sn.done(j, err)
				sh = sn.shells[j]
			}
			for len(sn.votes[j]) > 0 {
				progress = true
				v := sn.votes[j][0]
				sn.votes[j] = sn.votes[j][1:]
				if sn.voteFilter != nil {
					var keep bool
					if v, keep = sn.voteFilter(j, v); !keep {
						continue
					}
				}
				err := sh.StepVote(v)
				if errors.Is(err, ErrRejected) {
					sn.t.Fatalf("validator %d rejected vote of %d for epoch %d: %v", j, v.Validator, v.Epoch, err)
				}
				sn.done(j, err)
				sh = sn.shells[j]
			}
		}
	}
}

// receive stores e (and, first, any entry of its origin it skipped, read
// from the origin's journal: repair) and delivers them.
func (sn *shellNet) receive(j int, e stream.Entry) {
	jr := sn.journals[j]
	for seq := uint64(len(jr.entries[e.Origin])) + 1; seq <= e.Seq; seq++ {
		r := e
		if seq < e.Seq {
			r = sn.journals[e.Origin].entries[e.Origin][seq-1]
		}
		if err := jr.putEntry(r); err != nil {
			sn.t.Fatalf("validator %d: %v", j, err)
		}
		err := sn.shells[j].Deliver(r, sn.tn.checkBatch(r))
		if errors.Is(err, ErrRejected) {
			sn.t.Fatalf("validator %d rejected %d/%d: %v", j, r.Origin, r.Seq, err)
		}
		sn.done(j, err)
	}
}

// run advances the clock in 100 ms steps, proposes a transfer through a
// rotating validator every step, and stops once every validator has
// finalized epochs.
func (sn *shellNet) run(epochs uint64) {
	for step := 0; ; step++ {
		if step > 1000 {
			sn.t.Fatalf("epoch %d not final everywhere after %d steps", epochs, step)
		}
		sn.nowMs += 100
		i := step % len(sn.shells)
		sn.done(i, sn.shells[i].Propose([]ledger.CheckedTx{sn.tn.transfer(1)}))
		for i := range sn.shells {
			sn.done(i, sn.shells[i].Tick(sn.nowMs))
		}
		sn.deliver()
		all := true
		for _, sh := range sn.shells {
			all = all && sh.Machine().LastFinal() >= epochs
		}
		if all {
			return
		}
	}
}

// TestShellCrashAtEveryEffect crashes validator 0 once, before its t-th
// effect (each journal write, sync and send of every Ready), for every t of
// a four-epoch run, and restarts it from its journal with Open. Whatever the
// crash point, every validator finalizes the same chain, nobody signs two
// hashes for one epoch, and no own entry is rewritten.
func TestShellCrashAtEveryEffect(t *testing.T) {
	const epochs = 4
	// Count validator 0's effects in a run without a crash.
	sn := newShellNet(t, 4)
	effects := 0
	sn.journals[0].effect = func() error { effects++; return nil }
	sn.run(epochs)
	if effects < 20 {
		t.Fatalf("only %d effects in %d epochs", effects, epochs)
	}
	for crashAt := 0; crashAt <= effects; crashAt++ {
		sn := newShellNet(t, 4)
		count := 0
		sn.journals[0].effect = func() error {
			if count == crashAt {
				return errTestCrash
			}
			count++
			return nil
		}
		sn.run(epochs)
		if crashAt < effects && sn.crashes != 1 {
			t.Fatalf("crash point %d of %d: %d crashes", crashAt, effects, sn.crashes)
		}
		for ep := uint64(1); ep <= epochs; ep++ {
			ref := sn.journals[1].certs[ep]
			want := ref.Header.Hash()
			for i, j := range sn.journals {
				c, ok := j.certs[ep]
				if !ok || c.Header.Hash() != want {
					t.Fatalf("crash point %d: validator %d epoch %d final %v %s, validator 1 %s", crashAt, i, ep, ok, c.Header.Hash(), want)
				}
			}
		}
	}
	t.Logf("%d crash points, each recovered", effects+1)
}

// TestShellOpenReadErrors: a journal whose reads fail never opens into a
// Machine (a failed read of the votes must not pass for "never voted").
func TestShellOpenReadErrors(t *testing.T) {
	sn := newShellNet(t, 4)
	sn.run(2)
	j := sn.journals[0]
	delete(j.certs, uint64(len(j.headers))) // an executed epoch not final: Open reads its header
	j.readErr = errors.New("disk read error")
	if _, err := Open(ShellConfig{Machine: DefaultConfig(sn.tn.g, 0), Journal: j, Sender: shellSender{sn, 0},
		Signer: KeySigner{sn.tn.keys[0]}}, sn.nowMs); err == nil || !errors.Is(err, j.readErr) {
		t.Fatalf("Open over a failing journal: %v", err)
	}
	// Each read method failing alone is an error too.
	for _, method := range []string{"Head", "State", "Header", "LastFinal", "Votes", "Rounds", "Entry"} {
		fj := &failingJournal{memJournal: j, method: method}
		j.readErr = nil
		_, err := Open(ShellConfig{Machine: DefaultConfig(sn.tn.g, 0), Journal: fj, Sender: shellSender{sn, 0},
			Signer: KeySigner{sn.tn.keys[0]}}, sn.nowMs)
		if !errors.Is(err, errFailingRead) {
			t.Errorf("%s failing: Open = %v, want the read error", method, err)
		}
	}
}

var errFailingRead = errors.New("failing read")

// failingJournal fails one read method.
type failingJournal struct {
	*memJournal
	method string
}

func (f *failingJournal) Head() (Header, error) {
	if f.method == "Head" {
		return Header{}, errFailingRead
	}
	return f.memJournal.Head()
}

func (f *failingJournal) State(h Header) (*ledger.State, error) {
	if f.method == "State" {
		return nil, errFailingRead
	}
	return f.memJournal.State(h)
}

func (f *failingJournal) Header(ep uint64) (Header, error) {
	if f.method == "Header" {
		return Header{}, errFailingRead
	}
	return f.memJournal.Header(ep)
}

func (f *failingJournal) LastFinal(head uint64) (uint64, error) {
	if f.method == "LastFinal" {
		return 0, errFailingRead
	}
	return f.memJournal.LastFinal(head)
}

func (f *failingJournal) Votes(ep uint64) ([]Vote, error) {
	if f.method == "Votes" {
		return nil, errFailingRead
	}
	return f.memJournal.Votes(ep)
}

func (f *failingJournal) Rounds(ep uint64) ([]RoundMsg, error) {
	if f.method == "Rounds" {
		return nil, errFailingRead
	}
	return f.memJournal.Rounds(ep)
}

func (f *failingJournal) Entry(o uint32, seq uint64) (stream.Entry, error) {
	if f.method == "Entry" {
		return stream.Entry{}, errFailingRead
	}
	return f.memJournal.Entry(o, seq)
}

// TestOneShell: the node and the simulator carry out Readies and restore
// through one implementation because they cannot do otherwise. A Machine
// is made only by Open (no exported constructor) and stepped only by the
// Shell: its exported methods are reads. A new exported method must be a
// read, added to this list; a stepping one would let a second shell exist.
func TestOneShell(t *testing.T) {
	reads := map[string]bool{"Head": true, "LastFinal": true, "Voted": true, "State": true, "NextSeq": true,
		"Delivered": true, "Absent": true, "StreamPositions": true, "CurrentEpoch": true, "Halted": true,
		"Round": true, "Boundary": true, "DescribeAgreement": true}
	typ := reflect.TypeOf(&Machine{})
	for i := range typ.NumMethod() {
		if name := typ.Method(i).Name; !reads[name] {
			t.Errorf("(*Machine).%s is exported: only reads may be; the Shell steps the Machine", name)
		}
	}
	for _, name := range []string{"Ready", "Advance", "Tick", "Propose", "Deliver"} {
		if _, ok := typ.MethodByName(name); ok {
			t.Errorf("(*Machine).%s is exported", name)
		}
	}
	// Both shells' users open it: the node's restore and the simulator.
	for _, f := range []string{"../node/restore.go", "checkpointtest/simnode.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "checkpoint.Open(") {
			t.Errorf("%s does not restore through checkpoint.Open", f)
		}
	}
}

// TestCertificateCountsEquivocator: validator 3 equivocates to validator 0
// (its vote there names another header, and arrives first) and validator
// 2's vote never reaches 0. The others finalize; 0 holds its own vote, 1's
// and 3's other one, no quorum. A certificate of votes 0, 1 and 3 (3's
// real vote) is a quorum by itself and must finalize the epoch at 0 —
// without it, nothing would: the others stop resending votes once final.
func TestCertificateCountsEquivocator(t *testing.T) {
	sn := newShellNet(t, 4)
	sn.voteFilter = func(to int, v Vote) (Vote, bool) {
		if to != 0 || v.Epoch != 1 {
			return v, true
		}
		switch v.Validator {
		case 2:
			return v, false
		case 3:
			v.Hash = ledger.Hash{0xbb}
			sig, err := KeySigner{sn.tn.keys[3]}.Sign(v.Digest(sn.tn.g.ChainID))
			if err != nil {
				t.Fatal(err)
			}
			v.Sig = sig
		}
		return v, true
	}
	for step := 0; step < 40 && sn.shells[1].Machine().LastFinal() < 2; step++ {
		sn.nowMs += 100
		sn.done(step%4, sn.shells[step%4].Propose([]ledger.CheckedTx{sn.tn.transfer(1)}))
		for i := range sn.shells {
			sn.done(i, sn.shells[i].Tick(sn.nowMs))
		}
		sn.deliver()
	}
	if got := sn.shells[1].Machine().LastFinal(); got < 2 {
		t.Fatalf("validator 1 final at %d", got)
	}
	if got := sn.shells[0].Machine().LastFinal(); got != 0 {
		t.Fatalf("validator 0 final at %d without validator 2's vote", got)
	}
	cert := sn.journals[1].certs[1]
	cert.Certificate.Votes = nil
	for _, k := range []uint32{0, 1, 3} {
		v, ok := sn.journals[k].votes[1][k]
		if !ok {
			t.Fatalf("validator %d holds no own vote for epoch 1", k)
		}
		cert.Certificate.Votes = append(cert.Certificate.Votes, v)
	}
	sn.done(0, sn.shells[0].StepCertified(cert))
	if got := sn.shells[0].Machine().LastFinal(); got < 1 {
		t.Fatal("a certificate whose quorum includes an equivocator's vote did not finalize the epoch")
	}
}
