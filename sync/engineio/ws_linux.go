//go:build linux

package engineio

import (
	"errors"
	"syscall"
)

// inlineWriteMax bounds the frames written without blocking, on the
// sender's goroutine; larger ones go through the flusher.
const inlineWriteMax = 16 << 10

// tryWrite writes p's frame without blocking, on the calling goroutine,
// when the socket can take it now. taken is false when nothing was
// written: the writer's lock is busy, bytes of an earlier frame are still
// pending, or the socket's buffer is full. rest is true when only a part
// went out: the rest waits in w.pending for the flusher.
func (w *serverWS) tryWrite(p packet) (taken, rest bool) {
	if w.rc == nil || len(p.data)+maxFrameHeader > inlineWriteMax || !w.mu.TryLock() {
		return false, false
	}
	defer w.mu.Unlock()
	if w.closeSent || len(w.pending) > 0 {
		return false, false
	}
	bp := w.bufs.Get().(*[]byte)
	defer w.bufs.Put(bp)
	frame := (*bp)[:0]
	if p.binary {
		frame = appendFrameHeader(frame, opBinary, len(p.data))
	} else {
		frame = append(appendFrameHeader(frame, opText, 1+len(p.data)), p.typ)
	}
	frame = append(frame, p.data...)
	*bp = frame
	var n int
	var werr error
	if err := w.rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), frame)
			if !errors.Is(werr, syscall.EINTR) {
				return true // EAGAIN too: never wait here
			}
		}
	}); err != nil || werr != nil || n <= 0 {
		// Nothing written; the flusher meets the error, if there is one.
		return false, false
	}
	if n < len(frame) {
		w.pending = append([]byte(nil), frame[n:]...)
		return true, true
	}
	return true, false
}
