//go:build !linux

package engineio

import "testing"

func checkNoReaders(*testing.T, *Server) {}
