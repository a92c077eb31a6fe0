package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check runs bbolt's consistency check over the whole file (every page
// reachable once, free lists sound) and returns every problem it finds,
// joined, or nil.
func (d *DB) Check() error {
	var problems []error
	err := d.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check %s: %w", d.path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: check %s: %w", d.path, errors.Join(problems...))
	}
	return nil
}
