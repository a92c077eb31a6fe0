package hub

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are a hub's Prometheus metrics, in a registry of their own (never
// the global one), served at /metrics. Make them with NewMetrics before the
// store opens, so that the store's transaction hook can feed them, and give
// them to one hub through Config.Metrics.
//
// Names (all prefixed tandem_hub_):
//
//	connections                 gauge     sockets connected now
//	connections_total           counter   sockets connected since start
//	rooms                       gauge     rooms live in memory
//	events_in_total{event}      counter   client commands run, by event
//	command_duration_seconds    histogram time to run a command, ack included
//	events_out_total{event}     counter   room broadcasts, by event (one per broadcast)
//	broadcast_duration_seconds  histogram time to encode and queue a broadcast to every member
//	store_tx_duration_seconds{kind} histogram bbolt write transactions ("update", "batch"), commit and fsync included
//	upload_bytes_total          counter   bytes of uploads received
//	revocations_total           counter   users revoked
//	revoked_disconnects_total   counter   sockets closed because their user was revoked
//	invites_redeemed_total      counter   invites redeemed
//	auth_failures_total{kind}   counter   failed sign-ins: unknown tokens ("socket", "http") and refused invite codes ("invite")
//	auth_throttled_total{kind}  counter   sign-ins refused unchecked, from addresses with too many failures
//	draining                    gauge     1 while the hub shuts down
//
// and, once WatchConns has been called, what the connection guard counts
// (internal/netguard):
//
//	tcp_connections             gauge     TCP connections open now
//	conns_refused_total         counter   connections closed at once: their source had --max-conns-per-ip open
//	body_timeouts_total         counter   request bodies cut off for delivering nothing for the body timeout
//
// plus the Go runtime's and the process's standard collectors.
type Metrics struct {
	reg *prometheus.Registry

	connections       prometheus.Gauge
	connectionsTotal  prometheus.Counter
	eventsIn          *prometheus.CounterVec
	commandSeconds    prometheus.Histogram
	eventsOut         *prometheus.CounterVec
	broadcastSeconds  prometheus.Histogram
	txSeconds         *prometheus.HistogramVec
	uploadBytes       prometheus.Counter
	revocations       prometheus.Counter
	revokedDisconnect prometheus.Counter
	invitesRedeemed   prometheus.Counter
	authFailures      *prometheus.CounterVec
	authThrottled     *prometheus.CounterVec
	draining          prometheus.Gauge
}

const metricsNamespace, metricsSubsystem = "tandem", "hub"

// NewMetrics returns a hub's metrics in a new registry.
func NewMetrics() *Metrics {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	hist := func(name, help string, buckets []float64) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help, Buckets: buckets}
	}
	// From 50µs to about 1.6s: a broadcast or a command is microseconds
	// when well, and a slow disk shows up in the upper buckets.
	fast := prometheus.ExponentialBuckets(50e-6, 2, 16)
	m := &Metrics{
		reg:              prometheus.NewRegistry(),
		connections:      prometheus.NewGauge(prometheus.GaugeOpts(opts("connections", "Sockets connected now."))),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts(opts("connections_total", "Sockets connected since the hub started."))),
		eventsIn: prometheus.NewCounterVec(prometheus.CounterOpts(opts("events_in_total",
			"Client commands run, by event name.")), []string{"event"}),
		commandSeconds: prometheus.NewHistogram(hist("command_duration_seconds",
			"Time to run a client command, its store write and ack included.", fast)),
		eventsOut: prometheus.NewCounterVec(prometheus.CounterOpts(opts("events_out_total",
			"Room broadcasts sent, by event name (one per broadcast, whatever the number of members).")), []string{"event"}),
		broadcastSeconds: prometheus.NewHistogram(hist("broadcast_duration_seconds",
			"Time to encode a room broadcast and queue it for every member.", fast)),
		txSeconds: prometheus.NewHistogramVec(hist("store_tx_duration_seconds",
			"Duration of bbolt read-write transactions, commit and fsync included, by kind (update, batch).", fast), []string{"kind"}),
		uploadBytes:       prometheus.NewCounter(prometheus.CounterOpts(opts("upload_bytes_total", "Bytes of uploads received."))),
		revocations:       prometheus.NewCounter(prometheus.CounterOpts(opts("revocations_total", "Users revoked."))),
		revokedDisconnect: prometheus.NewCounter(prometheus.CounterOpts(opts("revoked_disconnects_total", "Sockets closed because their user was revoked."))),
		invitesRedeemed:   prometheus.NewCounter(prometheus.CounterOpts(opts("invites_redeemed_total", "Invites redeemed."))),
		draining:          prometheus.NewGauge(prometheus.GaugeOpts(opts("draining", "1 while the hub is shutting down."))),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts(opts("auth_failures_total",
			"Failed sign-ins: unknown tokens (socket, http) and refused invite codes (invite).")), []string{"kind"}),
		authThrottled: prometheus.NewCounterVec(prometheus.CounterOpts(opts("auth_throttled_total",
			"Sign-ins refused unchecked, from addresses with too many failed ones.")), []string{"kind"}),
	}
	for _, kind := range []string{signInSocket, signInHTTP, signInInvite} { // shown from the start, at 0
		m.authFailures.WithLabelValues(kind)
		m.authThrottled.WithLabelValues(kind)
	}
	m.reg.MustRegister(m.connections, m.connectionsTotal, m.eventsIn, m.commandSeconds, m.eventsOut,
		m.broadcastSeconds, m.txSeconds, m.uploadBytes, m.revocations, m.revokedDisconnect,
		m.invitesRedeemed, m.draining, m.authFailures, m.authThrottled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the metrics' registry, for a caller that adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveStoreTx records a store write transaction; it fits
// store.Options.ObserveTx.
func (m *Metrics) ObserveStoreTx(kind string, d time.Duration) {
	m.txSeconds.WithLabelValues(kind).Observe(d.Seconds())
}

// ConnStats is what a connection guard counts; *netguard.Guard has it.
type ConnStats interface {
	Open() int
	Refused() uint64
	BodyStalls() uint64
}

// WatchConns adds the guard's counts to the metrics. Call it once.
func (m *Metrics) WatchConns(s ConnStats) error {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	return errors.Join(
		m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("tcp_connections",
			"TCP connections open now.")), func() float64 { return float64(s.Open()) })),
		m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts(opts("conns_refused_total",
			"Connections closed as soon as accepted because their source address had the most connections allowed open.")),
			func() float64 { return float64(s.Refused()) })),
		m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts(opts("body_timeouts_total",
			"Request bodies cut off for delivering nothing for the body timeout.")),
			func() float64 { return float64(s.BodyStalls()) })),
	)
}

// handler serves the metrics in the Prometheus text format.
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// initMetrics takes the configured metrics, or makes new ones, and adds
// the gauge of live rooms, which reads the hub.
func (h *Hub) initMetrics(m *Metrics) *Metrics {
	if m == nil {
		m = NewMetrics()
	}
	rooms := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "rooms", Help: "Rooms live in memory."}, func() float64 {
		h.mu.Lock()
		defer h.mu.Unlock()
		return float64(len(h.rooms))
	})
	if err := m.reg.Register(rooms); err != nil {
		h.log.Error("hub: metrics shared by two hubs; the rooms gauge shows the first", "err", err)
	}
	return m
}

// observeCommand counts a client command and times it from start; exec
// defers it.
func (h *Hub) observeCommand(event string, start time.Time) {
	m := h.ops.metrics
	m.eventsIn.WithLabelValues(event).Inc()
	m.commandSeconds.Observe(time.Since(start).Seconds())
}

// observeBroadcast counts a room broadcast and times it from start; emit
// defers it.
func (h *Hub) observeBroadcast(event string, start time.Time) {
	m := h.ops.metrics
	m.eventsOut.WithLabelValues(event).Inc()
	m.broadcastSeconds.Observe(time.Since(start).Seconds())
}

// countUploadBytes adds n bytes received by uploads; the media code calls
// it as bytes arrive.
func (h *Hub) countUploadBytes(n int64) {
	if n > 0 {
		h.ops.metrics.uploadBytes.Add(float64(n))
	}
}
