package sessionplus

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// MinSecretKeyLen is the shortest secret key accepted, in bytes.
const MinSecretKeyLen = 32

// DeriveKey derives a 32-byte key for one purpose (such as "secure_cookie
// hash") from a secret key with HKDF-SHA256, so that one secret can serve
// several algorithms without reusing key material.
func DeriveKey(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "sessionplus "+purpose, 32)
	if err != nil {
		panic("sessionplus: DeriveKey: " + err.Error()) // only for lengths HKDF cannot produce
	}
	return k
}
