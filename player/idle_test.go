package player_test

import (
	"testing"
	"time"

	"tandem"
	"tandem/audio"
	"tandem/internal/testhub"
	"tandem/player"
)

// BenchmarkIdleCore measures the CPU of a headless player core in a room,
// paused, with the real audio engine on the muted output, together with
// its hub in the same process (issue 6 target: under 1% while paused or
// idle). What runs then: the clock's pings, the heartbeats and the
// follower's ticks; the output rests after audio.IdleAfter. The window
// (package ui, Fyne) is not in it.
func BenchmarkIdleCore(b *testing.B) {
	th := newHub(b)
	a, aAudio := th.newCore(b, "ann")
	rows := a.Rows("queue")
	player.ChangeTrack.Emit(a.Emitter(), player.TrackChange{Origin: player.Local, Room: "lounge", EntryID: rows[0].EntryID, TrackID: rows[0].TrackID})
	waitFor(b, "ann to play", func() bool { return aAudio.Playing() && aAudio.Position() > 500*time.Millisecond })
	player.Playback.Emit(a.Emitter(), player.PlaybackChange{Origin: player.Local, Room: "lounge", State: tandem.Paused})
	waitFor(b, "ann to pause", func() bool { return !aAudio.Playing() })
	time.Sleep(audio.IdleAfter + time.Second)
	if !aAudio.Idle() {
		b.Fatalf("the output still runs %v after the pause", audio.IdleAfter+time.Second)
	}
	testhub.ReportIdleCPU(b)
}
