package sessionplus

import (
	"fmt"
)

// A flash list is stored in its field as a [][]byte of encoded values,
// oldest first, each encoded as Set encodes a value, so that Flashes reads
// back exactly the type each was added as.

// AddFlash appends value to the list of flash messages kept under field,
// for a later request to read once with [Flashes] (a "logged in" notice
// shown after a redirect). The field is routed like any other: setting it
// in a session that does not own it is an error wrapping [ErrUnownedField].
// value is any value [Session.Set] takes.
func (s *Session) AddFlash(field string, value any) error {
	b, err := encodeValue(value)
	if err != nil {
		return withContext(fmt.Sprintf("field %q", field), err)
	}
	return s.update(field, nil, b)
}

// Flashes returns the flash messages kept under field, oldest first, and
// removes them in the same call, so that each is shown once. It returns no
// messages and no error when there are none. A message that is not a T is
// an error wrapping [ErrWrongType], and then nothing is removed.
func Flashes[T any](s *Session, field string) ([]T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return nil, err
	}
	list, ok, err := s.flashesLocked(field)
	if err != nil || !ok {
		return nil, err
	}
	out := make([]T, len(list))
	for i, b := range list {
		if err := decodeInto(b, &out[i]); err != nil {
			return nil, withContext(fmt.Sprintf("field %q: flash message %d", field, i), err)
		}
	}
	var buf [8]*Part
	if err := s.deleteLocked(s.ownersOf(buf[:0], field), field); err != nil {
		return nil, err
	}
	return out, nil
}

// flashesLocked returns the encoded flash list under field. The caller
// holds s.mu.
func (s *Session) flashesLocked(field string) (list [][]byte, ok bool, err error) {
	i := s.m.router.first(field)
	if i < 0 {
		return nil, false, nil
	}
	stored, v, ok, err := s.parts[i].lookupLocked(field)
	if err != nil || !ok {
		return nil, false, err
	}
	if v != nil {
		if l, isList := v.([][]byte); isList {
			return l, true, nil
		}
		return nil, false, fmt.Errorf("sessionplus: field %q: %w: it holds %T, not flash messages", field, ErrWrongType, v)
	}
	if err := decodeInto(stored, &list); err != nil {
		return nil, false, withContext(fmt.Sprintf("field %q: not flash messages", field), err)
	}
	return list, true, nil
}

// Pop returns the value of field as a T and deletes it in the same call
// (scs's PopString): ok is false when the field is not set. A value that is
// not a T is an error wrapping [ErrWrongType], and then it is not deleted.
func Pop[T any](s *Session, field string) (T, bool, error) {
	var zero T
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return zero, false, err
	}
	i := s.m.router.first(field)
	if i < 0 {
		return zero, false, nil
	}
	stored, v, ok, err := s.parts[i].lookupLocked(field)
	if err != nil || !ok {
		return zero, false, err
	}
	t, err := as[T](field, stored, v)
	if err != nil {
		return zero, false, err
	}
	var buf [8]*Part
	if err := s.deleteLocked(s.ownersOf(buf[:0], field), field); err != nil {
		return zero, false, err
	}
	return t, true, nil
}
