package protocol

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"tandem"
)

func TestMillis(t *testing.T) {
	at := time.Date(2026, 11, 25, 20, 0, 0, 123_456_789, time.UTC)
	back := FromMillis(Millis(at))
	if d := back.Sub(at); d > time.Microsecond || d < -time.Microsecond {
		t.Fatalf("round trip off by %v", d)
	}
	if Millis(time.Time{}) != 0 || !FromMillis(0).IsZero() {
		t.Fatal("zero time does not map to 0")
	}
	if got, want := Ms(1500*time.Millisecond), 1500.0; got != want {
		t.Fatalf("Ms = %v, want %v", got, want)
	}
	if got, want := Dur(2.5), 2500*time.Microsecond; got != want {
		t.Fatalf("Dur = %v, want %v", got, want)
	}
}

func TestFailShapes(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{tandem.Errorf(tandem.ENOTFOUND, "no entry %q", "e9"), `{"ok":false,"error":{"code":"ENOTFOUND","message":"no entry \"e9\""}}`},
		{errors.New("disk on fire"), `{"ok":false,"error":{"code":"EINTERNAL","message":"internal error"}}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(Fail(tt.err))
		if err != nil || string(b) != tt.want {
			t.Errorf("Fail(%v) = %s, %v; want %s", tt.err, b, err, tt.want)
		}
	}
	b, _ := json.Marshal(VersionAck{Ack: OK(), Version: 3})
	if got, want := string(b), `{"ok":true,"version":3}`; got != want {
		t.Errorf("VersionAck = %s, want %s", got, want)
	}
}
