//go:build !linux

package engineio

// inlineWriteMax is the size of the server's frame buffers.
const inlineWriteMax = 16 << 10

// tryWrite never writes elsewhere than on Linux: the flusher does.
func (w *serverWS) tryWrite(packet) (taken, rest bool) { return false, false }
