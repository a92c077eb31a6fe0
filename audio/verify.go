package audio

import (
	"fmt"
	"time"
)

// sayDuration writes a length as a person would say it: "1.5 seconds",
// "3 minutes", "18 days", "3.6 years".
func sayDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1f seconds", d.Seconds())
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	case d < 2*day:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d < 365*day:
		return fmt.Sprintf("%d days", d/day)
	default:
		return fmt.Sprintf("%.1f years", d.Hours()/24/365.25)
	}
}

// A Refusal is an error about a file whose text is a sentence for the
// person who sent it, such as "this FLAC file says it is 36 days long but
// holds 1.0 seconds of audio". It wraps ErrMalformed or ErrUnknownFormat.
type Refusal struct {
	kind error
	msg  string
}

func (e *Refusal) Error() string { return e.msg }
func (e *Refusal) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &Refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// lie refuses a file of the given kind ("MP3", "FLAC", "Ogg Vorbis") that
// claims to last claimed but holds only real.
func lie(kind string, claimed, real time.Duration) error {
	return refuse(ErrMalformed, "this %s file says it is %s long but holds %s of audio", kind, sayDuration(claimed), sayDuration(real))
}
