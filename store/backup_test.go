package store

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestBackupOpensAndHoldsData(t *testing.T) {
	d := openTest(t, t.TempDir())
	tok, err := d.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := d.CreateInvite(1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Writers keep going while the backup runs: it is an online backup.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := d.CreateToken("writer"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	out := filepath.Join(t.TempDir(), "backup.db")
	n, err := d.Backup(out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != n || n == 0 {
		t.Errorf("backup is %d bytes, Backup said %d", fi.Size(), n)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("backup left temporary files: %v", entries)
	}

	// Restore: the backup as tandem.db of a data directory.
	restored := t.TempDir()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := openTest(t, restored)
	if u, err := r.Authenticate(tok); err != nil || u.Name != "ann" {
		t.Errorf("restored Authenticate = %+v, %v", u, err)
	}
	if _, _, err := r.RedeemInvite(code, "bob"); err != nil {
		t.Errorf("restored invite: %v", err)
	}
}

func TestWriteFileAtomicFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err := WriteFileAtomic(path, 0o600, func(w io.Writer) (int64, error) {
		n, _ := w.Write([]byte("half of the new"))
		return int64(n), boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("file holds %q after a failed write", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary file left: %v", entries)
	}
}

func TestObserveTx(t *testing.T) {
	var mu sync.Mutex
	kinds := map[string]int{}
	d, err := Open(t.TempDir(), Options{Timeout: testTimeout, ObserveTx: func(kind string, dur time.Duration) {
		if dur < 0 {
			t.Errorf("negative duration %v", dur)
		}
		mu.Lock()
		kinds[kind]++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.CreateToken("ann"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The migration at Open and the token are two updates.
	if kinds["update"] < 2 {
		t.Errorf("observed %v, want at least 2 updates", kinds)
	}
}
