//go:build hubpprof

// This file is not built on its own. bench/run.sh (PPROF=1) builds cmd/hub
// with it laid over the package by `go build -overlay`, without touching
// cmd/hub: with HUB_PPROF=ADDR set, the hub also serves net/http/pprof on
// ADDR, apart from the hub's own address.
package main

import (
	"net/http"
	_ "net/http/pprof" // registers on http.DefaultServeMux
	"os"
)

func init() {
	if addr := os.Getenv("HUB_PPROF"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
