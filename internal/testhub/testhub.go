// Package testhub gives end-to-end tests the hub binary: the one make test
// built (TANDEM_HUB_BIN), or a fresh build.
package testhub

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binary returns the path of a hub binary built without cgo.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TANDEM_HUB_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "hub")
	cmd := exec.Command("go", "build", "-o", bin, "tandem/cmd/hub")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hub: %v\n%s", err, out)
	}
	return bin
}
