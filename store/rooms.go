package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// PutRoom stores r under its name, replacing any room of that name. The
// name of a new room must pass ValidateName (the caller normalises it with
// NormalizeName); a room stored before those rules keeps its name. An
// invalid name gives an EINVALID error. The store does not check that the
// queue's tracks or the fallback playlist exist; the hub owns those rules.
func (d *DB) PutRoom(r tandem.Room) error {
	if err := checkStoredName(r.Name); err != nil {
		return fmt.Errorf("store: put room %q: %w", r.Name, err)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: put room %s: %w", r.Name, err)
	}
	// Batch: concurrent puts of different rooms share one commit (one
	// fsync); it still returns only once the change is durable.
	err = d.batch(func(tx *bolt.Tx) error {
		rooms, codes := bucket(tx, bucketRooms), bucket(tx, bucketRoomCodes)
		old := rooms.Get([]byte(r.Name))
		if old == nil {
			if err := ValidateName(r.Name); err != nil {
				return err
			}
		}
		if old != nil {
			prev, err := decodeRoom(old)
			if err != nil {
				return err
			}
			if prev.Code != "" && prev.Code != r.Code {
				if err := codes.Delete([]byte(prev.Code)); err != nil {
					return err
				}
			}
		}
		if r.Code != "" {
			if owner := codes.Get([]byte(r.Code)); owner != nil && string(owner) != r.Name {
				return tandem.Errorf(tandem.ECONFLICT, "invite code already belongs to another room")
			}
			if err := codes.Put([]byte(r.Code), []byte(r.Name)); err != nil {
				return err
			}
		}
		return rooms.Put([]byte(r.Name), v)
	})
	if err != nil {
		return fmt.Errorf("store: put room %s: %w", r.Name, err)
	}
	return nil
}

// decodeRoom decodes a stored room. Its Queue is never nil, so it encodes as
// a JSON array.
func decodeRoom(v []byte) (tandem.Room, error) {
	var r tandem.Room
	if err := json.Unmarshal(v, &r); err != nil {
		return tandem.Room{}, err
	}
	if r.Queue == nil {
		r.Queue = []tandem.Entry{}
	}
	return r, nil
}

// Room returns the room called name, or an ENOTFOUND error.
func (d *DB) Room(name string) (tandem.Room, error) {
	var r tandem.Room
	err := d.db.View(func(tx *bolt.Tx) error {
		v := bucket(tx, bucketRooms).Get([]byte(name))
		if v == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no room %q", name)
		}
		var err error
		r, err = decodeRoom(v) // copies out of the transaction
		return err
	})
	if err != nil {
		return tandem.Room{}, fmt.Errorf("store: room %q: %w", name, err)
	}
	return r, nil
}

// Rooms returns every room, sorted by name (bytewise).
func (d *DB) Rooms() ([]tandem.Room, error) {
	rooms := []tandem.Room{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketRooms).ForEach(func(_, v []byte) error {
			r, err := decodeRoom(v)
			if err != nil {
				return err
			}
			rooms = append(rooms, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	return rooms, nil
}

// RoomByCode returns the room whose invite code is code, or an ENOTFOUND
// error.
func (d *DB) RoomByCode(code string) (tandem.Room, error) {
	var r tandem.Room
	err := d.db.View(func(tx *bolt.Tx) error {
		name := bucket(tx, bucketRoomCodes).Get([]byte(code))
		if name == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no room has this invite code")
		}
		v := bucket(tx, bucketRooms).Get(name)
		if v == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no room has this invite code")
		}
		var err error
		r, err = decodeRoom(v)
		return err
	})
	if err != nil {
		return tandem.Room{}, fmt.Errorf("store: room by code: %w", err)
	}
	return r, nil
}
