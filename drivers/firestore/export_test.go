package firestore

// DocID returns the document id of token, or "" if it cannot name one.
func DocID(token string) string {
	id, _ := docID(token)
	return id
}
