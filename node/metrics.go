package node

import (
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/buildinfo"
	"github.com/ledgerd/ledgerd/node/store"
	"github.com/ledgerd/ledgerd/p2p"
)

// metrics are the node's Prometheus series, on their own registry.
// docs/metrics.md lists every series.
type metrics struct {
	reg            *prometheus.Registry
	labels         prometheus.Labels
	epoch          prometheus.Gauge
	epochExecutedG prometheus.Gauge
	epochFinal     prometheus.Gauge
	// finalTime is the Unix time at which this node last saw a checkpoint
	// become final (0 until it has since it started): a stall alert
	// compares it with the current time.
	finalTime prometheus.Gauge
	// syncState holds 1 for the node's sync state and 0 for the others.
	syncState     *prometheus.GaugeVec
	finality      prometheus.Histogram
	phase         *prometheus.HistogramVec
	txsFinal      prometheus.Counter
	txsExecuted   *prometheus.CounterVec
	txsSubmitted  *prometheus.CounterVec
	mempool       prometheus.Gauge
	peers         prometheus.Gauge
	batchTxs      prometheus.Histogram
	deliverErrors prometheus.Counter
	badVotes      prometheus.Counter
	equivocations prometheus.Counter
	divergences   prometheus.Counter
	// The agreement on cuts: how many validators the last final epoch cut
	// as absent, and which; the round that decided each executed epoch;
	// boundary→final of the epochs that newly cut a validator as absent.
	absent          prometheus.Gauge
	validatorAbsent *prometheus.GaugeVec
	agreementRound  prometheus.Histogram
	exclusion       prometheus.Histogram
	names           []string
}

func newMetrics(g *ledger.Genesis, self uint32) *metrics {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"chain": g.ChainID, "validator": g.Validators[self].Name}
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ledgerd", Name: name, Help: help, ConstLabels: labels}
	}
	m := &metrics{
		reg:            reg,
		labels:         labels,
		epoch:          prometheus.NewGauge(prometheus.GaugeOpts(f("epoch_open", "Epoch this node's next batch belongs to."))),
		epochExecutedG: prometheus.NewGauge(prometheus.GaugeOpts(f("epoch_executed", "Last epoch executed and committed locally."))),
		epochFinal:     prometheus.NewGauge(prometheus.GaugeOpts(f("epoch_final", "Last final epoch."))),
		finalTime: prometheus.NewGauge(prometheus.GaugeOpts(f("last_final_checkpoint_timestamp_seconds",
			"Unix time at which this node last saw a checkpoint become final; 0 until it has since it started."))),
		syncState: prometheus.NewGaugeVec(prometheus.GaugeOpts(f("sync_state",
			"1 for the node's sync state (synced, catching_up, halted), 0 for the others.")), []string{"state"}),
		finality: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ledgerd", Name: "finality_seconds",
			Help: "Time from an epoch's boundary to its checkpoint becoming final here.", ConstLabels: labels,
			Buckets: []float64{.025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10}}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ledgerd", Name: "epoch_phase_seconds",
			Help: "Where an epoch's time goes here: executed, voted (time from the epoch's boundary to its result reaching the " +
				"node and to its vote leaving), execute, store_commit, sync (durations).", ConstLabels: labels,
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10}}, []string{"phase"}),
		txsFinal:     prometheus.NewCounter(prometheus.CounterOpts(f("txs_final_total", "Transactions in final checkpoints."))),
		txsExecuted:  prometheus.NewCounterVec(prometheus.CounterOpts(f("txs_executed_total", "Executed transactions by receipt status.")), []string{"status"}),
		txsSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts(f("txs_submitted_total", "Transactions submitted to this node's API by result.")), []string{"result"}),
		mempool:      prometheus.NewGauge(prometheus.GaugeOpts(f("mempool_txs", "Admitted transactions not yet in a batch."))),
		peers:        prometheus.NewGauge(prometheus.GaugeOpts(f("peers", "Connected validators."))),
		batchTxs: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ledgerd", Name: "batch_txs",
			Help: "Transactions per proposed batch.", ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		deliverErrors: prometheus.NewCounter(prometheus.CounterOpts(f("deliver_errors_total", "Delivered entries the machine refused (broken stream)."))),
		badVotes:      prometheus.NewCounter(prometheus.CounterOpts(f("bad_votes_total", "Malformed or badly signed votes."))),
		equivocations: prometheus.NewCounter(prometheus.CounterOpts(f("equivocations_total", "Two different entries seen for one (origin, seq)."))),
		divergences:   prometheus.NewCounter(prometheus.CounterOpts(f("divergences_total", "Certified checkpoints that differ from ours."))),
		absent: prometheus.NewGauge(prometheus.GaugeOpts(f("absent_validators",
			"Validators the last final epoch cut as absent (no marker in its cut)."))),
		validatorAbsent: prometheus.NewGaugeVec(prometheus.GaugeOpts(f("validator_absent",
			"1 when the last final epoch cut the named validator as absent, else 0.")), []string{"name"}),
		agreementRound: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ledgerd", Name: "agreement_round",
			Help: "Round of the agreement that decided each epoch executed here: 0 is the fast path (every marker), " +
				"1 the slow path (missing markers cut as absent after the timeout), later rounds rotate a proposer.",
			ConstLabels: labels, Buckets: []float64{0, 1, 2, 3, 4, 6, 8, 12, 16}}),
		exclusion: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ledgerd", Name: "exclusion_seconds",
			Help: "For an epoch that cuts as absent a validator present in the epoch before: time from its boundary to its " +
				"checkpoint becoming final here (time to exclusion).", ConstLabels: labels,
			Buckets: []float64{.25, .5, .75, 1, 1.5, 2, 3, 5, 10, 30}}),
	}
	for _, v := range g.Validators {
		m.names = append(m.names, v.Name)
		m.validatorAbsent.WithLabelValues(v.Name).Set(0)
	}
	bi := buildinfo.Get()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts(f("build_info",
		"Always 1; the labels name the running build (module version, VCS commit, Go version).")),
		[]string{"version", "commit", "go_version"})
	build.WithLabelValues(bi.Version, bi.Commit, bi.GoVersion).Set(1)
	for _, s := range syncStates {
		m.syncState.WithLabelValues(s).Set(0)
	}
	reg.MustRegister(build, m.epoch, m.epochExecutedG, m.epochFinal, m.finalTime, m.syncState, m.finality, m.phase,
		m.txsFinal, m.txsExecuted, m.txsSubmitted, m.mempool, m.peers, m.batchTxs, m.deliverErrors, m.badVotes,
		m.equivocations, m.divergences, m.absent, m.validatorAbsent, m.agreementRound, m.exclusion,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// syncStates are the values of ledgerd_sync_state's state label: the
// sync states /v1/status reports once the node runs. The metrics listener
// opens after the start-up state sync, so "starting" and "syncing" never
// show here.
var syncStates = []string{api.SyncSynced, api.SyncCatching, api.SyncHalted}

// syncStateOf is the sync state of a published view, as /v1/status
// reports it: halted after a divergence, catching up while the open epoch
// is more than 3 ahead of the last final one, synced otherwise.
func syncStateOf(v *view) string {
	switch {
	case v.halted:
		return api.SyncHalted
	case v.epoch > v.lastFinal+3:
		return api.SyncCatching
	}
	return api.SyncSynced
}

// registerStore exports the store's resident-page trimmer (store/trim.go).
func (m *metrics) registerStore(stats func() store.TrimStats) {
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ledgerd", Subsystem: "store", Name: name, Help: help, ConstLabels: m.labels}
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts(f("trims_total", "Runs of the resident-page trimmer.")),
			func() float64 { return float64(stats().Runs) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(f("trim_seconds_total", "Time spent trimming (write-back included).")),
			func() float64 { return stats().Time.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(f("mapped_bytes", "Size of the store's file mappings at the last trim.")),
			func() float64 { return float64(stats().MappedBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(f("resident_before_trim_bytes", "Resident pages of those mappings just before the last trim.")),
			func() float64 { return float64(stats().ResidentBytes) }),
	)
}

// register adds collectors owned by other components (p2p counters).
func (m *metrics) register(c prometheus.Collector) { m.reg.MustRegister(c) }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) epochExecuted(r *checkpoint.EpochResult, _ *ledger.Genesis) {
	m.epochExecutedG.Set(float64(r.Header.Epoch))
	if r.Round >= 0 {
		m.agreementRound.Observe(float64(r.Round))
	}
	for _, rc := range r.Receipts {
		m.txsExecuted.WithLabelValues(rc.Status.String()).Inc()
	}
}

// observePhase records one epoch phase: a duration, or (since the
// boundary) a point in time.
func (m *metrics) observePhase(phase string, d time.Duration) {
	if d >= 0 && d < time.Hour {
		m.phase.WithLabelValues(phase).Observe(d.Seconds())
	}
}

func (m *metrics) finalized(c checkpoint.Certified, now, boundary time.Time) {
	m.epochFinal.Set(float64(c.Header.Epoch))
	m.finalTime.Set(float64(now.UnixMilli()) / 1000)
	m.txsFinal.Add(float64(c.Header.TxCount))
	d := now.Sub(boundary)
	if d >= 0 && d < time.Hour {
		m.finality.Observe(d.Seconds())
	}
	absent := c.Header.Absent()
	m.absent.Set(float64(len(absent)))
	for k, name := range m.names {
		m.validatorAbsent.WithLabelValues(name).Set(0)
		if slices.Contains(absent, uint32(k)) {
			m.validatorAbsent.WithLabelValues(name).Set(1)
		}
	}
	if len(newlyAbsent(c.Header)) > 0 && d >= 0 && d < time.Hour {
		m.exclusion.Observe(d.Seconds())
	}
}

// newlyAbsent lists the validators h cuts as absent that were present in
// the epoch before (an absent validator keeps its previous marker).
func newlyAbsent(h checkpoint.Header) []uint32 {
	var out []uint32
	for _, k := range h.Absent() {
		if h.Epoch > 1 && h.Marker[k] == h.Epoch-1 {
			out = append(out, k)
		}
	}
	return out
}

func (m *metrics) observeView(v *view, mempool int) {
	m.epoch.Set(float64(v.epoch))
	m.peers.Set(float64(v.peers))
	m.mempool.Set(float64(mempool))
	state := syncStateOf(v)
	for _, s := range syncStates {
		if s == state {
			m.syncState.WithLabelValues(s).Set(1)
		} else {
			m.syncState.WithLabelValues(s).Set(0)
		}
	}
}

// p2pCollector exports the network layer's counters at scrape time.
type p2pCollector struct {
	stats  func() p2p.Stats
	labels prometheus.Labels
	descs  map[string]*prometheus.Desc
	drops  *prometheus.Desc
}

var p2pCounters = []struct {
	name, help string
	get        func(p2p.Stats) uint64
}{
	{"p2p_entries_published_total", "Stream entries this node published.", func(s p2p.Stats) uint64 { return s.Published }},
	{"p2p_entries_delivered_total", "Entries delivered in order to the node.", func(s p2p.Stats) uint64 { return s.Delivered }},
	{"p2p_entries_duplicate_total", "Entries dropped as duplicates.", func(s p2p.Stats) uint64 { return s.Duplicates }},
	{"p2p_entries_held_total", "Entries that waited in the hold-back buffer.", func(s p2p.Stats) uint64 { return s.Held }},
	{"p2p_entries_overflow_total", "Entries dropped beyond the hold-back bounds.", func(s p2p.Stats) uint64 { return s.Overflow }},
	{"p2p_entries_rejected_total", "Gossiped entries rejected at the boundary.", func(s p2p.Stats) uint64 { return s.Rejected }},
	{"p2p_repairs_total", "Gap repair requests sent.", func(s p2p.Stats) uint64 { return s.Repairs }},
	{"p2p_repaired_entries_total", "Entries received through repair.", func(s p2p.Stats) uint64 { return s.Repaired }},
	{"p2p_repair_failures_total", "Failed repair requests.", func(s p2p.Stats) uint64 { return s.RepairFailures }},
	{"p2p_equivocations_total", "Equivocation evidence seen by the sequencer.", func(s p2p.Stats) uint64 { return s.Equivocations }},
	{"p2p_refused_connections_total", "Connections refused by the allow-list gater.", func(s p2p.Stats) uint64 { return s.Refused }},
	{"p2p_votes_rejected_total", "Gossiped votes rejected at the boundary.", func(s p2p.Stats) uint64 { return s.VotesRejected }},
	{"p2p_peers_blacklisted_total", "Times a peer was blacklisted for forwarding invalid gossip.", func(s p2p.Stats) uint64 { return s.Blacklisted }},
}

func newP2PCollector(stats func() p2p.Stats, labels prometheus.Labels) *p2pCollector {
	c := &p2pCollector{stats: stats, labels: labels, descs: map[string]*prometheus.Desc{},
		drops: prometheus.NewDesc("ledgerd_p2p_gossip_drops_total", "Messages gossipsub dropped, by reason.", []string{"reason"}, labels)}
	for _, pc := range p2pCounters {
		c.descs[pc.name] = prometheus.NewDesc("ledgerd_"+pc.name, pc.help, nil, labels)
	}
	return c
}

func (c *p2pCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.drops
}

func (c *p2pCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, pc := range p2pCounters {
		ch <- prometheus.MustNewConstMetric(c.descs[pc.name], prometheus.CounterValue, float64(pc.get(s)))
	}
	for reason, n := range s.GossipDrops {
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(n), reason)
	}
}
