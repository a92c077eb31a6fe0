package follow

import (
	"math"
	"sync"
	"time"
)

// VirtualSink is a Sink without a device: it consumes frames in real time
// by its clock, honouring Schedule, Stop and SetRate exactly, and reports
// the exact frame it plays at any instant. The sync lab and tests use it.
type VirtualSink struct {
	sampleRate int
	now        func() time.Time
	speed      float64 // 1 + the device clock's rate error against now

	mu    sync.Mutex
	track string   // what Load loaded, for the next Schedule
	ratio float64  // the rate set by SetRate
	cur   *segment // what plays (or played until stop)
	next  *segment // scheduled, not started yet
}

// segment is a stretch of one track played from frame at local time t.
type segment struct {
	track string
	frame float64
	t     time.Time
	ratio float64
	stop  time.Time // zero: none
}

// NewVirtualSink returns a sink of sampleRate frames a second whose device
// clock is now's, off by drift (1e-4 runs 100 ppm fast).
func NewVirtualSink(sampleRate int, now func() time.Time, drift float64) *VirtualSink {
	return &VirtualSink{sampleRate: sampleRate, now: now, speed: 1 + drift, ratio: 1}
}

// Load names the track that the following Schedules play.
func (s *VirtualSink) Load(track string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.track = track
}

// SampleRate implements Sink.
func (s *VirtualSink) SampleRate() int { return s.sampleRate }

// framesAt is the frame of seg playing at local time at.
func (s *VirtualSink) framesAt(seg *segment, at time.Time) float64 {
	return seg.frame + at.Sub(seg.t).Seconds()*float64(s.sampleRate)*s.speed*seg.ratio
}

// promoteLocked starts the scheduled segment once its time has come.
func (s *VirtualSink) promoteLocked(at time.Time) {
	if s.next != nil && !at.Before(s.next.t) {
		s.cur, s.next = s.next, nil
	}
}

// At returns the track and the exact (fractional) frame heard at local
// time at, which should be close to now; ok is false during silence.
func (s *VirtualSink) At(at time.Time) (track string, frame float64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promoteLocked(at)
	seg := s.cur
	if seg == nil || at.Before(seg.t) || (!seg.stop.IsZero() && !at.Before(seg.stop)) {
		return "", 0, false
	}
	return seg.track, s.framesAt(seg, at), true
}

// Audible implements Sink: the frame heard now, exactly.
func (s *VirtualSink) Audible() (int64, time.Time, bool) {
	now := s.now()
	_, f, ok := s.At(now)
	if !ok {
		return 0, time.Time{}, false
	}
	return int64(math.Round(f)), now, true
}

// Schedule implements Sink.
func (s *VirtualSink) Schedule(frame int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	f := float64(frame)
	if at.Before(now) {
		f += now.Sub(at).Seconds() * float64(s.sampleRate)
		at = now
	}
	seg := &segment{track: s.track, frame: f, t: at, ratio: s.ratio}
	if at.After(now) {
		s.promoteLocked(now)
		s.next = seg
		return nil
	}
	s.cur, s.next = seg, nil
	return nil
}

// Stop implements Sink.
func (s *VirtualSink) Stop(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if at.Before(now) {
		at = now
	}
	s.promoteLocked(now)
	if s.next != nil {
		if s.next.t.Before(at) {
			s.next.stop = at
			return
		}
		s.next = nil
	}
	if s.cur != nil && (s.cur.stop.IsZero() || at.Before(s.cur.stop)) {
		s.cur.stop = at
	}
}

// SetRate implements Sink.
func (s *VirtualSink) SetRate(ratio float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.promoteLocked(now)
	if s.cur != nil && now.After(s.cur.t) {
		s.cur.frame, s.cur.t = s.framesAt(s.cur, now), now
	}
	if s.cur != nil {
		s.cur.ratio = ratio
	}
	if s.next != nil {
		s.next.ratio = ratio
	}
	s.ratio = ratio
}
