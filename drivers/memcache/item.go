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
// where record is [sessionplus.MarshalRecord] of the record (its fields and
// its expiry, to the second) and each trailer is the 8-byte big-endian Unix
// time of the expiry that a keep-alive moved the record to. The last trailer,
// if any, is the record's expiry. A keep-alive appends a trailer with
// memcached's append command, so it never reads the record; every write of
// fields rewrites the item without trailers.
const (
	itemVersion = 1
	trailerSize = 8
)

var errMalformedItem = errors.New("malformed item")

// encodeItem returns the value of the item that holds r.
func encodeItem(r sessionplus.Record) []byte {
	rec := sessionplus.MarshalRecord(r)
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(rec))
	b = append(b, itemVersion)
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...)
}

// trailer returns what a keep-alive appends to move the expiry.
func trailer(expiry time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(expiry.Unix()))
}

// decodeItem reads the record from an item's value. Its values share b's
// memory.
func decodeItem(b []byte) (sessionplus.Record, error) {
	if len(b) == 0 || b[0] != itemVersion {
		return sessionplus.Record{}, errMalformedItem
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return sessionplus.Record{}, errMalformedItem
	}
	rest := b[1+k:]
	rec, err := sessionplus.UnmarshalRecord(rest[:n])
	if err != nil {
		return sessionplus.Record{}, errMalformedItem
	}
	trailers := rest[n:]
	if len(trailers)%trailerSize != 0 {
		return sessionplus.Record{}, errMalformedItem
	}
	if len(trailers) > 0 {
		last := trailers[len(trailers)-trailerSize:]
		rec.Expiry = time.Unix(int64(binary.BigEndian.Uint64(last)), 0)
	}
	return rec, nil
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
