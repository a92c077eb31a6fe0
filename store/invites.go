package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// inviteBytes is the size of an invite code's random part: 128 bits, far
// beyond guessing, and short enough to read out or paste into a link.
const inviteBytes = 16

// MaxInviteUses bounds the uses of one invite.
const MaxInviteUses = 1000

// Invite is an invite code's record. Only the sha256 of the code is
// stored (as the key), so a stolen database gives no usable codes.
type Invite struct {
	// ID is the first 12 hex digits of the code's sha256: enough to tell
	// invites apart in a listing, useless for redeeming.
	ID         string    `json:"id"`
	MaxUses    int       `json:"maxUses"`
	Used       int       `json:"used"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"` // zero: never
	CreatedAt  time.Time `json:"createdAt"`
	RedeemedBy []string  `json:"redeemedBy,omitempty"`
}

// Invite refusals, for errors.Is. Each comes wrapped in an EFORBIDDEN
// *tandem.Error, so callers that only look at codes need nothing else.
var (
	ErrInviteUnknown = errors.New("this invite code is not valid")
	ErrInviteUsedUp  = errors.New("this invite has been used up; ask for a new one")
	ErrInviteExpired = errors.New("this invite has expired; ask for a new one")
)

// inviteError is an EFORBIDDEN *tandem.Error that also matches one of the
// sentinel errors above with errors.Is.
type inviteError struct {
	coded    *tandem.Error
	sentinel error
}

func (e inviteError) Error() string   { return e.coded.Error() }
func (e inviteError) Unwrap() []error { return []error{e.coded, e.sentinel} }

func refuseInvite(sentinel error) error {
	return inviteError{coded: tandem.Errorf(tandem.EFORBIDDEN, "%v", sentinel), sentinel: sentinel}
}

// CreateInvite makes an invite code good for uses redemptions (1 to
// MaxInviteUses) until ttl from now; ttl 0 means it never expires. It
// returns the code, which cannot be shown again, and the time it expires
// (zero for never). Bad arguments give EINVALID errors.
func (d *DB) CreateInvite(uses int, ttl time.Duration) (string, time.Time, error) {
	if uses < 1 || uses > MaxInviteUses {
		return "", time.Time{}, fmt.Errorf("store: create invite: %w",
			tandem.Errorf(tandem.EINVALID, "uses must be between 1 and %d", MaxInviteUses))
	}
	if ttl < 0 {
		return "", time.Time{}, fmt.Errorf("store: create invite: %w",
			tandem.Errorf(tandem.EINVALID, "the expiry must not be negative"))
	}
	raw := make([]byte, inviteBytes)
	rand.Read(raw) // never fails; see crypto/rand.Read
	code := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(code))
	now := stamp(d.now())
	inv := Invite{ID: hex.EncodeToString(hash[:6]), MaxUses: uses, CreatedAt: now}
	if ttl > 0 {
		inv.ExpiresAt = now.Add(ttl)
	}
	v, err := json.Marshal(inv)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("store: create invite: %w", err)
	}
	err = d.update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketInvites).Put(hash[:], v)
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("store: create invite: %w", err)
	}
	d.logger.Info("store invite created", "invite", inv.ID, "uses", uses, "expires", inv.ExpiresAt)
	return code, inv.ExpiresAt, nil
}

// RedeemInvite spends one use of an invite code on a new user called name,
// and returns that user and a new token for it (see CreateToken). It is one
// transaction: either the use is spent, the user created and the token
// stored, or nothing changes. An unknown, used-up or expired code gives an
// EFORBIDDEN error (matching ErrInviteUnknown, ErrInviteUsedUp or
// ErrInviteExpired), a bad name EINVALID, and a name already taken or too
// like another user's ECONFLICT (CheckNewName). The user's name is stored
// in its NFC form.
func (d *DB) RedeemInvite(code, name string) (tandem.User, string, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return tandem.User{}, "", fmt.Errorf("store: redeem invite: %w", err)
	}
	if code == "" || len(code) > 256 {
		return tandem.User{}, "", fmt.Errorf("store: redeem invite: %w", refuseInvite(ErrInviteUnknown))
	}
	hash := sha256.Sum256([]byte(code))
	token, tokenHash := newToken()
	now := stamp(d.now())
	u := tandem.User{Name: name, CreatedAt: now}
	var inv Invite
	err = d.update(func(tx *bolt.Tx) error {
		invites := bucket(tx, bucketInvites)
		v := invites.Get(hash[:])
		if v == nil {
			return refuseInvite(ErrInviteUnknown)
		}
		inv = Invite{}
		if err := json.Unmarshal(v, &inv); err != nil {
			return fmt.Errorf("invite %x: %w", hash[:6], err)
		}
		switch {
		case !inv.ExpiresAt.IsZero() && !now.Before(inv.ExpiresAt):
			return refuseInvite(ErrInviteExpired)
		case inv.Used >= inv.MaxUses:
			return refuseInvite(ErrInviteUsedUp)
		}
		if err := putNewUser(tx, &u, tokenHash); err != nil {
			return err
		}
		inv.Used++
		inv.RedeemedBy = append(inv.RedeemedBy, name)
		iv, err := json.Marshal(inv)
		if err != nil {
			return err
		}
		return invites.Put(hash[:], iv)
	})
	if err != nil {
		return tandem.User{}, "", fmt.Errorf("store: redeem invite: %w", err)
	}
	d.logger.Info("store invite redeemed", "invite", inv.ID, "user", name, "used", inv.Used, "of", inv.MaxUses)
	return u, token, nil
}

// Invites returns every invite, used up and expired ones included, in the
// order of their IDs.
func (d *DB) Invites() ([]Invite, error) {
	out := []Invite{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketInvites).ForEach(func(_, v []byte) error {
			var inv Invite
			if err := json.Unmarshal(v, &inv); err != nil {
				return err
			}
			out = append(out, inv)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: invites: %w", err)
	}
	return out, nil
}

// RedeemRoomCode makes a new user called name, with a new token, for a
// friend who holds a room's invite link, in one transaction. It is for
// hubs whose room links admit newcomers (a player's built-in hub). An
// unknown code is refused like an unknown invite (EFORBIDDEN), a bad name
// with EINVALID, and a name taken or too like another user's with
// ECONFLICT (CheckNewName). The user still joins the room with the code.
func (d *DB) RedeemRoomCode(code, name string) (tandem.User, string, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return tandem.User{}, "", fmt.Errorf("store: redeem room code: %w", err)
	}
	token, tokenHash := newToken()
	u := tandem.User{Name: name, CreatedAt: stamp(d.now())}
	err = d.update(func(tx *bolt.Tx) error {
		if code == "" || bucket(tx, bucketRoomCodes).Get([]byte(code)) == nil {
			return refuseInvite(ErrInviteUnknown)
		}
		return putNewUser(tx, &u, tokenHash)
	})
	if err != nil {
		return tandem.User{}, "", fmt.Errorf("store: redeem room code: %w", err)
	}
	d.logger.Info("store user created from a room link", "user", name)
	return u, token, nil
}

// putNewUser stores the new user u, its name checked by CheckNewName and
// set to its NFC form, and the hash of its first token.
func putNewUser(tx *bolt.Tx, u *tandem.User, tokenHash []byte) error {
	n, err := CheckNewName(tx, u.Name, "")
	if err != nil {
		return err
	}
	u.Name = n
	if err := putUser(tx, *u); err != nil {
		return err
	}
	return bucket(tx, bucketTokens).Put(tokenHash, []byte(u.Name))
}

// putUser stores the user u, whose name CheckNewName passed, and indexes
// its name's skeleton.
func putUser(tx *bolt.Tx, u tandem.User) error {
	uv, err := json.Marshal(u)
	if err != nil {
		return err
	}
	if err := bucket(tx, bucketUsers).Put([]byte(u.Name), uv); err != nil {
		return err
	}
	_, err = indexUserName(tx, u.Name)
	return err
}
