package postgres

// UserRecordsSQL returns the statement of s's UserRecords, for the test
// of its plan.
func UserRecordsSQL(s *Store) string { return s.q.userRecords }

// WaitSweeps waits for s's automatic sweep under way, if any, so that a
// count of statements does not include it.
func WaitSweeps(s *Store) { s.sweeps.Wait() }
