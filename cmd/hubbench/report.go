package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Dist summarises a distribution of durations, in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ServerStats are the sampled server process's figures.
type ServerStats struct {
	PID          int   `json:"pid"`
	RSSBaseKB    int64 `json:"rssBaseKB"`    // before the first connection
	RSSIdleKB    int64 `json:"rssIdleKB"`    // after the idle phase
	RSSAfterKB   int64 `json:"rssAfterKB"`   // after the commands
	PeakKB       int64 `json:"peakKB"`       // VmHWM at the end
	ThreadsIdle  int   `json:"threadsIdle"`  // OS threads after the idle phase
	IdlePerConnB int64 `json:"idlePerConnB"` // (RSSIdle − RSSBase) / connections, bytes
	// AfterPerConnB is the same after the commands, which touch the send
	// queues and buffers that an idle connection may not have touched yet.
	AfterPerConnB       int64   `json:"afterPerConnB"`
	CPUConnectSec       float64 `json:"cpuConnectSec"`  // connecting and joining
	CPUIdleSec          float64 `json:"cpuIdleSec"`     // the idle phase
	CPUCommandsSec      float64 `json:"cpuCommandsSec"` // from the first command to the last delivery
	DeliveriesPerCPUSec float64 `json:"deliveriesPerCPUSec"`
	// Write system calls and bytes written by the server per delivery,
	// from the first command to the last delivery.
	WritesPerDelivery float64 `json:"writesPerDelivery"`
	BytesPerDelivery  float64 `json:"bytesPerDelivery"`
	Error             string  `json:"error,omitempty"` // a failed sample
}

// Result is one run's figures.
type Result struct {
	Label     string    `json:"label"`
	URL       string    `json:"url"`
	Transport string    `json:"transport"`
	Date      time.Time `json:"date"`
	GoVersion string    `json:"goVersion"`
	NumCPU    int       `json:"numCPU"`
	// LoadAvg is the machine's 1-minute load average at the start and at
	// the end of the run: other work on a shared machine shows there.
	LoadAvg [2]float64 `json:"loadAvg"`

	Clients  int     `json:"clients"`
	Rooms    int     `json:"rooms"`
	Senders  int     `json:"senders"`  // per room
	Messages int     `json:"messages"` // per sender
	Rate     float64 `json:"rate"`     // commands per second, 0 for closed loop
	Idle     float64 `json:"idleSec"`

	Connected     int      `json:"connected"`
	ConnectFailed int      `json:"connectFailed"`
	ConnectErrors []string `json:"connectErrors,omitempty"`
	Connect       Dist     `json:"connectMs"` // dial to CONNECT
	Join          Dist     `json:"joinMs"`    // room:join to its ack

	Sent          int      `json:"sent"`
	Acked         int      `json:"acked"`
	AckErrors     int      `json:"ackErrors"`
	CommandErrors []string `json:"commandErrors,omitempty"`
	Ack           Dist     `json:"ackMs"`

	Expected    int64 `json:"expected"`
	Delivered   int64 `json:"delivered"`
	Unmatched   int64 `json:"unmatched"`  // changeTrack from no command of this run
	Duplicates  int64 `json:"duplicates"` // a second copy to the same client
	HubEvents   int64 `json:"hubEvents"`  // changeTrack sent by the hub itself (by "")
	Disconnects int   `json:"disconnects"`

	Latency          Dist    `json:"latencyMs"` // send → receive
	Spread           Dist    `json:"spreadMs"`  // first recipient → this recipient
	PhaseSec         float64 `json:"phaseSec"`  // first command → last delivery
	DrainSec         float64 `json:"drainSec"`  // last ack → last delivery
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	BenchCPUSec      float64 `json:"benchCPUSec"` // hubbench's own CPU in the same span

	Server *ServerStats `json:"server,omitempty"`

	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}

func newResult(cfg Config) *Result {
	return &Result{
		Label: cfg.Label, URL: cfg.URL, Transport: cfg.Transport, Date: time.Now().UTC().Truncate(time.Second),
		GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(),
		Clients: cfg.Clients, Rooms: cfg.Rooms, Senders: cfg.Senders, Messages: cfg.Messages, Rate: cfg.Rate,
		Idle: cfg.Idle.Seconds(),
	}
}

func serverStats(s *sampler, base, beforeConnect, connected, idle, before, after procSample, res *Result) *ServerStats {
	st := &ServerStats{
		PID: s.pid, RSSBaseKB: base.RSSKB, RSSIdleKB: idle.RSSKB, RSSAfterKB: after.RSSKB, PeakKB: after.HWMKB,
		ThreadsIdle:    idle.Threads,
		CPUConnectSec:  (connected.CPU - beforeConnect.CPU).Seconds(),
		CPUIdleSec:     (idle.CPU - connected.CPU).Seconds(),
		CPUCommandsSec: (after.CPU - before.CPU).Seconds(),
	}
	if res.Connected > 0 {
		st.IdlePerConnB = (idle.RSSKB - base.RSSKB) * 1024 / int64(res.Connected)
		st.AfterPerConnB = (after.RSSKB - base.RSSKB) * 1024 / int64(res.Connected)
	}
	if st.CPUCommandsSec > 0 {
		st.DeliveriesPerCPUSec = float64(res.Delivered) / st.CPUCommandsSec
	}
	if res.Delivered > 0 {
		st.WritesPerDelivery = float64(after.Writes-before.Writes) / float64(res.Delivered)
		st.BytesPerDelivery = float64(after.WBytes-before.WBytes) / float64(res.Delivered)
	}
	if s.err != nil {
		st.Error = s.err.Error()
	}
	return st
}

// check sets OK and lists what went wrong.
func (r *Result) check() {
	var p []string
	if r.ConnectFailed > 0 {
		p = append(p, fmt.Sprintf("%d clients failed to connect or join", r.ConnectFailed))
	}
	if r.AckErrors > 0 {
		p = append(p, fmt.Sprintf("%d commands failed", r.AckErrors))
	}
	if r.Delivered != r.Expected {
		p = append(p, fmt.Sprintf("MISMATCH: delivered %d, expected %d (%+d)", r.Delivered, r.Expected, r.Delivered-r.Expected))
	}
	if r.Unmatched > 0 || r.Duplicates > 0 {
		p = append(p, fmt.Sprintf("MISMATCH: %d unmatched and %d duplicate changeTrack events", r.Unmatched, r.Duplicates))
	}
	if r.Disconnects > 0 {
		p = append(p, fmt.Sprintf("%d connections lost during the run", r.Disconnects))
	}
	if r.Server != nil && r.Server.Error != "" {
		p = append(p, "server sample: "+r.Server.Error)
	}
	r.Problems, r.OK = p, len(p) == 0
}

func (d Dist) String() string {
	if d.N == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max))
}

func ms(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func kbPer(b int64) string { return fmt.Sprintf("%.1f KB", float64(b)/1024) }

// minCPU is the least server CPU time, in seconds, whose per-delivery
// figure means something: /proc counts it in 10 ms ticks.
const minCPU = 0.5

// Print writes the result as a readable table.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "hubbench %s  %s  %s  %s  load average %.2f → %.2f\n", r.Label, r.URL, r.Transport, r.Date.Format(time.RFC3339), r.LoadAvg[0], r.LoadAvg[1])
	rate := "closed loop"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g/s", r.Rate)
	}
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "  %-11s "+format+"\n", append([]any{name}, args...)...)
	}
	row("load", "%d clients in %d rooms; %d sender(s) per room × %d commands, %s", r.Clients, r.Rooms, r.Senders, r.Messages, rate)
	row("connect", "%d/%d ok  %s", r.Connected, r.Clients, r.Connect)
	row("join", "%s", r.Join)
	if s := r.Server; s != nil {
		row("server", "pid %d, %d threads idle", s.PID, s.ThreadsIdle)
		row("memory", "RSS %s → %s idle: %s per connection; %s after commands: %s per connection; peak %s",
			mb(s.RSSBaseKB), mb(s.RSSIdleKB), kbPer(s.IdlePerConnB), mb(s.RSSAfterKB), kbPer(s.AfterPerConnB), mb(s.PeakKB))
		row("server cpu", "connect+join %.2f s, idle %.2f s, commands %.2f s", s.CPUConnectSec, s.CPUIdleSec, s.CPUCommandsSec)
		row("writes", "%.2f write calls and %.0f bytes per delivery", s.WritesPerDelivery, s.BytesPerDelivery)
	}
	row("commands", "%d sent, %d acked, %d failed; ack %s", r.Sent, r.Acked, r.AckErrors, r.Ack)
	verdict := "OK"
	if r.Delivered != r.Expected || r.Unmatched > 0 || r.Duplicates > 0 {
		verdict = "*** MISMATCH ***"
	}
	row("delivered", "%d of %d expected: %s (unmatched %d, duplicates %d, hub-sent %d)",
		r.Delivered, r.Expected, verdict, r.Unmatched, r.Duplicates, r.HubEvents)
	row("latency", "%s  (send → receive)", r.Latency)
	row("spread", "%s  (first → each recipient of a command)", r.Spread)
	line := fmt.Sprintf("%.0f deliveries/s over %.2f s (drain %.2f s); hubbench used %.2f CPU-s", r.DeliveriesPerSec, r.PhaseSec, r.DrainSec, r.BenchCPUSec)
	if s := r.Server; s != nil && s.DeliveriesPerCPUSec > 0 {
		line = fmt.Sprintf("%.0f deliveries per server CPU-second; ", s.DeliveriesPerCPUSec) + line
		if s.CPUCommandsSec < minCPU {
			line += fmt.Sprintf(" (server CPU under %.1f s is a few clock ticks: send more commands before comparing)", minCPU)
		}
	}
	row("throughput", "%s", line)
	for _, p := range r.ConnectErrors {
		row("error", "%s", p)
	}
	for _, p := range r.CommandErrors {
		row("error", "%s", p)
	}
	if r.OK {
		row("result", "OK")
		return
	}
	for _, p := range r.Problems {
		row("PROBLEM", "%s", p)
	}
}

// compare prints results side by side as a Markdown table; with two, a
// last column gives the first divided by the second.
func compare(w io.Writer, files []string) error {
	var rs []*Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		rs = append(rs, &r)
	}
	if len(rs) == 0 {
		return fmt.Errorf("compare: no result files")
	}
	head := []string{"metric"}
	for _, r := range rs {
		head = append(head, r.Label)
	}
	if len(rs) == 2 {
		head = append(head, rs[0].Label+" / "+rs[1].Label)
	}
	fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(head)))
	type metric struct {
		name string
		val  func(*Result) (float64, bool)
		f    string
	}
	srv := func(get func(*ServerStats) float64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) {
			if r.Server == nil {
				return 0, false
			}
			return get(r.Server), true
		}
	}
	always := func(get func(*Result) float64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) { return get(r), true }
	}
	metrics := []metric{
		{"clients / rooms", nil, ""},
		{"delivered / expected", nil, ""},
		{"connect p50 (ms)", always(func(r *Result) float64 { return r.Connect.P50 }), "%.2f"},
		{"connect p99 (ms)", always(func(r *Result) float64 { return r.Connect.P99 }), "%.2f"},
		{"latency p50 (ms)", always(func(r *Result) float64 { return r.Latency.P50 }), "%.2f"},
		{"latency p90 (ms)", always(func(r *Result) float64 { return r.Latency.P90 }), "%.2f"},
		{"latency p99 (ms)", always(func(r *Result) float64 { return r.Latency.P99 }), "%.2f"},
		{"latency max (ms)", always(func(r *Result) float64 { return r.Latency.Max }), "%.2f"},
		{"spread p99 (ms)", always(func(r *Result) float64 { return r.Spread.P99 }), "%.2f"},
		{"ack p99 (ms)", always(func(r *Result) float64 { return r.Ack.P99 }), "%.2f"},
		{"server CPU, commands (s)", srv(func(s *ServerStats) float64 { return s.CPUCommandsSec }), "%.2f"},
		{"deliveries per server CPU-s", srv(func(s *ServerStats) float64 { return s.DeliveriesPerCPUSec }), "%.0f"},
		{"server write calls per delivery", srv(func(s *ServerStats) float64 { return s.WritesPerDelivery }), "%.2f"},
		{"server bytes written per delivery", srv(func(s *ServerStats) float64 { return s.BytesPerDelivery }), "%.0f"},
		{"server CPU, connect+join (s)", srv(func(s *ServerStats) float64 { return s.CPUConnectSec }), "%.2f"},
		{"RSS before (MB)", srv(func(s *ServerStats) float64 { return float64(s.RSSBaseKB) / 1024 }), "%.1f"},
		{"RSS idle (MB)", srv(func(s *ServerStats) float64 { return float64(s.RSSIdleKB) / 1024 }), "%.1f"},
		{"RSS per idle connection (KB)", srv(func(s *ServerStats) float64 { return float64(s.IdlePerConnB) / 1024 }), "%.1f"},
		{"RSS per connection after commands (KB)", srv(func(s *ServerStats) float64 { return float64(s.AfterPerConnB) / 1024 }), "%.1f"},
		{"peak RSS (MB)", srv(func(s *ServerStats) float64 { return float64(s.PeakKB) / 1024 }), "%.1f"},
		{"hubbench CPU (s)", always(func(r *Result) float64 { return r.BenchCPUSec }), "%.2f"},
		{"load average at start", always(func(r *Result) float64 { return r.LoadAvg[0] }), "%.2f"},
	}
	for _, m := range metrics {
		cells := []string{m.name}
		var vals []float64
		for _, r := range rs {
			switch m.name {
			case "clients / rooms":
				cells = append(cells, fmt.Sprintf("%d / %d", r.Connected, r.Rooms))
				continue
			case "delivered / expected":
				c := fmt.Sprintf("%d / %d", r.Delivered, r.Expected)
				if !r.OK {
					c += " **MISMATCH**"
				}
				cells = append(cells, c)
				continue
			}
			v, ok := m.val(r)
			if !ok {
				cells = append(cells, "-")
				continue
			}
			vals = append(vals, v)
			c := fmt.Sprintf(m.f, v)
			if m.name == "deliveries per server CPU-s" && r.Server.CPUCommandsSec < minCPU {
				c += " (too short)"
			}
			cells = append(cells, c)
		}
		if len(rs) == 2 {
			if len(vals) == 2 && vals[1] != 0 {
				cells = append(cells, fmt.Sprintf("%.2f×", vals[0]/vals[1]))
			} else {
				cells = append(cells, "")
			}
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	for _, r := range rs {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "\n%s: %s", r.Label, p)
		}
	}
	fmt.Fprintln(w)
	return nil
}
