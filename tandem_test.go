package tandem

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPositionAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		p    Playback
		at   time.Time
		want time.Duration
	}{
		{"playing advances", Playback{State: Playing, Position: time.Second, StartAt: t0}, t0.Add(2 * time.Second), 3 * time.Second},
		{"before the start holds at zero", Playback{State: Playing, StartAt: t0}, t0.Add(-time.Second), 0},
		{"paused holds", Playback{State: Paused, Position: 5 * time.Second, StartAt: t0}, t0.Add(time.Hour), 5 * time.Second},
		{"stopped", Playback{State: Stopped}, t0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.PositionAt(tt.at); got != tt.want {
				t.Fatalf("PositionAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	wrapped := fmt.Errorf("store: get: %w", Errorf(ENOTFOUND, "no room %q", "x"))
	if got := ErrorCode(wrapped); got != ENOTFOUND {
		t.Fatalf("ErrorCode = %q", got)
	}
	if got := ErrorMessage(wrapped); got != `no room "x"` {
		t.Fatalf("ErrorMessage = %q", got)
	}
	if ErrorCode(errors.New("x")) != EINTERNAL || ErrorMessage(errors.New("secret")) != "internal error" || ErrorCode(nil) != "" {
		t.Fatal("internal errors leak or are misclassified")
	}
}

func TestNoSpace(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		full := fmt.Errorf("store: write blob: %w", &fs.PathError{Op: "write", Path: "/srv/tandem/blobs/tmp/spool-1", Err: errno})
		err := NoSpace(full)
		if ErrorCode(err) != ENOSPACE || strings.Contains(ErrorMessage(err), "/") || !errors.Is(err, errno) {
			t.Errorf("NoSpace(%v) = code %q, message %q; want ENOSPACE, no path, the cause kept", full, ErrorCode(err), ErrorMessage(err))
		}
	}
	other := fmt.Errorf("store: write blob: %w", syscall.EIO)
	if err := NoSpace(other); err != other {
		t.Errorf("NoSpace(%v) = %v, want it unchanged", other, err)
	}
	coded := fmt.Errorf("x: %w: %w", Errorf(EINVALID, "cut short"), syscall.ENOSPC)
	if err := NoSpace(coded); ErrorCode(err) != EINVALID {
		t.Errorf("NoSpace of a coded error changed its code to %q", ErrorCode(err))
	}
	if NoSpace(nil) != nil {
		t.Error("NoSpace(nil) != nil")
	}
}
