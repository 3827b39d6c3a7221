package memcache

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/sessionplus/sessionplus"
)

// An item's value is
//
//	itemVersion | uvarint(len(record)) | record | trailer*
//
// for a record of no user, and
//
//	userItemVersion | uvarint(len(user)) | user | reserved | uvarint(len(record)) | record | trailer*
//
// for a record indexed under a user (see users.go), where reserved is 8
// bytes (see noDeadline). record is [sessionplus.MarshalRecord] of the
// record (its fields and its expiry, to the second) and each trailer is
// the 8-byte big-endian Unix time of the expiry that a keep-alive moved
// the record to. The last trailer, if any, is the record's expiry. A
// keep-alive appends a trailer with memcached's append command, so it
// never rewrites the record, nor reads it; every write of fields rewrites
// the item without trailers.
const (
	itemVersion     = 1
	userItemVersion = 2
	trailerSize     = 8
)

// noDeadline is what this driver writes in the 8-byte fields that an
// earlier version of it read as the deadline of a record's index entry,
// in the record's item and in each index entry (see users.go): a Unix
// time that never comes (and that time.Unix still represents), so that
// the earlier version, in a deployment that runs both, never drops an
// entry this one wrote nor moves it at a keep-alive. This version ignores
// what it reads there, so the items and entries of the earlier version,
// which hold real deadlines, read as its own.
const noDeadline = 1 << 62

var errMalformedItem = errors.New("malformed item")

// encodeItem returns the value of the item that holds r, of user ("" for
// none).
func encodeItem(r sessionplus.Record, user string) []byte {
	rec := sessionplus.MarshalRecord(r)
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(user)+8+len(rec))
	if user == "" {
		b = append(b, itemVersion)
	} else {
		b = append(b, userItemVersion)
		b = binary.AppendUvarint(b, uint64(len(user)))
		b = append(b, user...)
		b = binary.BigEndian.AppendUint64(b, noDeadline)
	}
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...)
}

// trailer returns what a keep-alive appends to move the expiry.
func trailer(expiry time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(expiry.Unix()))
}

// decodeItem reads the record, and whose it is ("" for no user), from an
// item's value. Its values share b's memory.
func decodeItem(b []byte) (sessionplus.Record, string, error) {
	if len(b) == 0 || (b[0] != itemVersion && b[0] != userItemVersion) {
		return sessionplus.Record{}, "", errMalformedItem
	}
	rest := b[1:]
	var user string
	if b[0] == userItemVersion {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n == 0 || n > uint64(len(rest)-k) || len(rest)-k-int(n) < 8 {
			return sessionplus.Record{}, "", errMalformedItem
		}
		user = string(rest[k : k+int(n)])
		rest = rest[k+int(n)+8:] // the reserved field: see noDeadline
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return sessionplus.Record{}, "", errMalformedItem
	}
	rest = rest[k:]
	rec, err := sessionplus.UnmarshalRecord(rest[:n])
	if err != nil {
		return sessionplus.Record{}, "", errMalformedItem
	}
	trailers := rest[n:]
	if len(trailers)%trailerSize != 0 {
		return sessionplus.Record{}, "", errMalformedItem
	}
	if len(trailers) > 0 {
		last := trailers[len(trailers)-trailerSize:]
		rec.Expiry = time.Unix(int64(binary.BigEndian.Uint64(last)), 0)
	}
	return rec, user, nil
}

const (
	// maxRelative is the longest expiration memcached reads as seconds from
	// now; a larger number is an absolute Unix time.
	maxRelative = 30 * 24 * 60 * 60

	// relativeMargin is how many seconds before the record's expiry
	// memcached is told to drop the item, when the expiry is sent as seconds
	// from now. memcached's clock ticks once a second and rounds down, so an
	// item may outlive its expiration by up to two seconds; with three, it
	// is gone by the time the record expires, and a keep-alive (a touch)
	// can never revive an expired session.
	relativeMargin = 3

	// absoluteMargin is the same margin for an expiry sent as a Unix time,
	// which memcached reads on its own clock: it also covers a server clock
	// up to about a minute behind the app's.
	absoluteMargin = 60
)

// expiration returns the expiration to send to memcached for a record that
// expires at expiry, and false if the record must not be stored at all
// because it expires within relativeMargin seconds (or has expired).
//
// Up to 30 days ahead it is a number of seconds from now; beyond, an
// absolute Unix time (memcached's rule), capped at the largest one memcached
// takes (January 2038).
func expiration(expiry, now time.Time) (int32, bool) {
	drop := expiry.Unix() - relativeMargin
	secs := int64(time.Unix(drop, 0).Sub(now) / time.Second)
	if secs < 1 {
		return 0, false
	}
	if secs <= maxRelative {
		return int32(secs), true
	}
	return int32(min(expiry.Unix()-absoluteMargin, math.MaxInt32)), true
}
