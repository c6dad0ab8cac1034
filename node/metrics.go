package node

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
)

// metrics are the node's Prometheus series, on their own registry.
type metrics struct {
	reg              *prometheus.Registry
	epoch            prometheus.Gauge
	epochExecutedG   prometheus.Gauge
	epochFinal       prometheus.Gauge
	finality         prometheus.Histogram
	txsFinal         prometheus.Counter
	txsExecuted      *prometheus.CounterVec
	txsSubmitted     *prometheus.CounterVec
	mempool          prometheus.Gauge
	peers            prometheus.Gauge
	batchTxs         prometheus.Histogram
	entriesDelivered prometheus.Counter
	deliverErrors    prometheus.Counter
	badVotes         prometheus.Counter
	equivocations    prometheus.Counter
	divergences      prometheus.Counter
}

func newMetrics(g *ledger.Genesis, self uint32) *metrics {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"chain": g.ChainID, "validator": g.Validators[self].Name}
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ledgerd", Name: name, Help: help, ConstLabels: labels}
	}
	m := &metrics{
		reg:            reg,
		epoch:          prometheus.NewGauge(prometheus.GaugeOpts(f("epoch_open", "Epoch this node's next batch belongs to."))),
		epochExecutedG: prometheus.NewGauge(prometheus.GaugeOpts(f("epoch_executed", "Last epoch executed and committed locally."))),
		epochFinal:     prometheus.NewGauge(prometheus.GaugeOpts(f("epoch_final", "Last final epoch."))),
		finality: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ledgerd", Name: "finality_seconds",
			Help: "Time from an epoch's boundary to its checkpoint becoming final here.", ConstLabels: labels,
			Buckets: []float64{.025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10}}),
		txsFinal:     prometheus.NewCounter(prometheus.CounterOpts(f("txs_final_total", "Transactions in final checkpoints."))),
		txsExecuted:  prometheus.NewCounterVec(prometheus.CounterOpts(f("txs_executed_total", "Executed transactions by receipt status.")), []string{"status"}),
		txsSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts(f("txs_submitted_total", "Transactions submitted to this node's API by result.")), []string{"result"}),
		mempool:      prometheus.NewGauge(prometheus.GaugeOpts(f("mempool_txs", "Admitted transactions not yet in a batch."))),
		peers:        prometheus.NewGauge(prometheus.GaugeOpts(f("peers", "Connected validators."))),
		batchTxs: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ledgerd", Name: "batch_txs",
			Help: "Transactions per proposed batch.", ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		entriesDelivered: prometheus.NewCounter(prometheus.CounterOpts(f("entries_delivered_total", "Stream entries of other validators delivered in order."))),
		deliverErrors:    prometheus.NewCounter(prometheus.CounterOpts(f("deliver_errors_total", "Delivered entries the machine refused (broken stream)."))),
		badVotes:         prometheus.NewCounter(prometheus.CounterOpts(f("bad_votes_total", "Malformed or badly signed votes."))),
		equivocations:    prometheus.NewCounter(prometheus.CounterOpts(f("equivocations_total", "Two different entries seen for one (origin, seq)."))),
		divergences:      prometheus.NewCounter(prometheus.CounterOpts(f("divergences_total", "Certified checkpoints that differ from ours."))),
	}
	reg.MustRegister(m.epoch, m.epochExecutedG, m.epochFinal, m.finality, m.txsFinal, m.txsExecuted, m.txsSubmitted,
		m.mempool, m.peers, m.batchTxs, m.entriesDelivered, m.deliverErrors, m.badVotes, m.equivocations, m.divergences,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register adds collectors owned by other components (p2p counters).
func (m *metrics) register(c prometheus.Collector) { m.reg.MustRegister(c) }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) epochExecuted(r *checkpoint.EpochResult, _ *ledger.Genesis) {
	m.epochExecutedG.Set(float64(r.Header.Epoch))
	for _, rc := range r.Receipts {
		m.txsExecuted.WithLabelValues(rc.Status.String()).Inc()
	}
}

func (m *metrics) finalized(c checkpoint.Certified, now, boundary time.Time) {
	m.epochFinal.Set(float64(c.Header.Epoch))
	m.txsFinal.Add(float64(c.Header.TxCount))
	if d := now.Sub(boundary); d >= 0 && d < time.Hour {
		m.finality.Observe(d.Seconds())
	}
}

func (m *metrics) observeView(v *view, mempool int) {
	m.epoch.Set(float64(v.epoch))
	m.peers.Set(float64(v.peers))
	m.mempool.Set(float64(mempool))
}
