package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// tokenBytes is the size of a token's random part: 256 bits.
const tokenBytes = 32

// newToken returns a new token, 256 random bits base64url-encoded without
// padding, and the sha256 under which it is stored.
func newToken() (token string, hash []byte) {
	raw := make([]byte, tokenBytes)
	rand.Read(raw) // never fails; see crypto/rand.Read
	token = base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}

// CreateToken issues a new token for the user name, creating the user if it
// does not exist. The token is 256 random bits, base64url-encoded without
// padding; only its sha256 is stored, so it cannot be shown again. A user
// may hold several tokens. An existing user is found by name as stored or
// by its NFC form; a new user follows the rules of CheckNewName: a name
// that breaks them gives an EINVALID error, one too like another user's
// ECONFLICT.
func (d *DB) CreateToken(name string) (string, error) {
	if err := checkStoredName(name); err != nil {
		return "", fmt.Errorf("store: create token for %q: %w", name, err)
	}
	token, hash := newToken()

	created := false
	err := d.update(func(tx *bolt.Tx) error {
		created = false
		users := bucket(tx, bucketUsers)
		if users.Get([]byte(name)) == nil { // an old name that is not NFC is found as it is
			n, err := NormalizeName(name)
			if err != nil {
				return err
			}
			name = n
		}
		if users.Get([]byte(name)) == nil {
			n, err := CheckNewName(tx, name, "")
			if err != nil {
				return err
			}
			name = n
			if err := putUser(tx, tandem.User{Name: name, CreatedAt: stamp(d.now())}); err != nil {
				return err
			}
			created = true
		}
		return bucket(tx, bucketTokens).Put(hash, []byte(name))
	})
	if err != nil {
		return "", fmt.Errorf("store: create token for %s: %w", name, err)
	}
	if created {
		d.logger.Info("store user created", "user", name)
	}
	return token, nil
}

// Authenticate returns the user that holds token. An empty or unknown token
// gives an EUNAUTHORIZED error. The token is found by its sha256, so no
// secret is compared byte by byte and the lookup leaks no timing about it.
func (d *DB) Authenticate(token string) (tandem.User, error) {
	unauthorized := tandem.Errorf(tandem.EUNAUTHORIZED, "unauthorized")
	if token == "" {
		return tandem.User{}, fmt.Errorf("store: authenticate: %w", unauthorized)
	}
	hash := sha256.Sum256([]byte(token))
	var u tandem.User
	err := d.db.View(func(tx *bolt.Tx) error {
		name := bucket(tx, bucketTokens).Get(hash[:])
		if name == nil {
			return unauthorized
		}
		v := bucket(tx, bucketUsers).Get(name)
		if v == nil {
			return unauthorized // a token whose user is gone is no credential
		}
		return json.Unmarshal(v, &u) // copies out of the transaction
	})
	if err != nil {
		return tandem.User{}, fmt.Errorf("store: authenticate: %w", err)
	}
	return u, nil
}

// User returns the user called name, or an ENOTFOUND error.
func (d *DB) User(name string) (tandem.User, error) {
	var u tandem.User
	err := d.db.View(func(tx *bolt.Tx) error {
		v := bucket(tx, bucketUsers).Get([]byte(name))
		if v == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no user %q", name)
		}
		return json.Unmarshal(v, &u)
	})
	if err != nil {
		return tandem.User{}, fmt.Errorf("store: user %q: %w", name, err)
	}
	return u, nil
}

// Users returns every user, sorted by name (bytewise).
func (d *DB) Users() ([]tandem.User, error) {
	users := []tandem.User{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketUsers).ForEach(func(_, v []byte) error {
			var u tandem.User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			users = append(users, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return users, nil
}

// RevokeUser deletes every token of the user called name, so that none of
// them authenticates any more, and returns how many there were. The user
// stays (the name keeps its history and cannot be taken by someone else);
// `hub token create` can let them in again. An unknown user gives an
// ENOTFOUND error.
func (d *DB) RevokeUser(name string) (int, error) {
	n := 0
	err := d.update(func(tx *bolt.Tx) error {
		if bucket(tx, bucketUsers).Get([]byte(name)) == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no user %q", name)
		}
		tokens := bucket(tx, bucketTokens)
		var keys [][]byte
		err := tokens.ForEach(func(k, v []byte) error {
			if string(v) == name {
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tokens.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: revoke %q: %w", name, err)
	}
	d.logger.Info("store user revoked", "user", name, "tokens", n)
	return n, nil
}

// TokenCounts returns how many tokens each user holds; users without any
// (revoked ones) are absent.
func (d *DB) TokenCounts() (map[string]int, error) {
	counts := map[string]int{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketTokens).ForEach(func(_, v []byte) error {
			counts[string(v)]++
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: token counts: %w", err)
	}
	return counts, nil
}
