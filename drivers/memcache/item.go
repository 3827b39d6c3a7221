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
//	userItemVersion | uvarint(len(user)) | user | deadline | uvarint(len(record)) | record | trailer*
//
// for a record indexed under a user (see users.go), where deadline is the
// 8-byte big-endian Unix time until which the user's index item lists the
// record. record is [sessionplus.MarshalRecord] of the record (its fields
// and its expiry, to the second) and each trailer is the 8-byte big-endian
// Unix time of the expiry that a keep-alive moved the record to. The last
// trailer, if any, is the record's expiry. A keep-alive appends a trailer
// with memcached's append command, so it never rewrites the record; every
// write of fields rewrites the item without trailers.
const (
	itemVersion     = 1
	userItemVersion = 2
	trailerSize     = 8
)

var errMalformedItem = errors.New("malformed item")

// owner is what an item says of the index that lists its record: the user
// and the deadline of the record's entry in the user's index item. The zero
// owner is a record of no user.
type owner struct {
	user     string
	deadline time.Time // to the second
}

// encodeItem returns the value of the item that holds r, of o.
func encodeItem(r sessionplus.Record, o owner) []byte {
	rec := sessionplus.MarshalRecord(r)
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(o.user)+8+len(rec))
	if o.user == "" {
		b = append(b, itemVersion)
	} else {
		b = append(b, userItemVersion)
		b = binary.AppendUvarint(b, uint64(len(o.user)))
		b = append(b, o.user...)
		b = binary.BigEndian.AppendUint64(b, uint64(o.deadline.Unix()))
	}
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...)
}

// trailer returns what a keep-alive appends to move the expiry.
func trailer(expiry time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(expiry.Unix()))
}

// decodeItem reads the record, and whose it is, from an item's value. Its
// values share b's memory.
func decodeItem(b []byte) (sessionplus.Record, owner, error) {
	if len(b) == 0 || (b[0] != itemVersion && b[0] != userItemVersion) {
		return sessionplus.Record{}, owner{}, errMalformedItem
	}
	rest := b[1:]
	var o owner
	if b[0] == userItemVersion {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n == 0 || n > uint64(len(rest)-k) || len(rest)-k-int(n) < 8 {
			return sessionplus.Record{}, owner{}, errMalformedItem
		}
		o.user = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
		o.deadline = time.Unix(int64(binary.BigEndian.Uint64(rest)), 0)
		rest = rest[8:]
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return sessionplus.Record{}, owner{}, errMalformedItem
	}
	rest = rest[k:]
	rec, err := sessionplus.UnmarshalRecord(rest[:n])
	if err != nil {
		return sessionplus.Record{}, owner{}, errMalformedItem
	}
	trailers := rest[n:]
	if len(trailers)%trailerSize != 0 {
		return sessionplus.Record{}, owner{}, errMalformedItem
	}
	if len(trailers) > 0 {
		last := trailers[len(trailers)-trailerSize:]
		rec.Expiry = time.Unix(int64(binary.BigEndian.Uint64(last)), 0)
	}
	return rec, o, nil
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
