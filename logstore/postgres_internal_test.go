package logstore

import "testing"

// TestOnPostgresIndex runs the index's tests with their stores in
// PostgreSQL, as TestOnPostgres does the others.
func TestOnPostgresIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"IndexedReadsMatchScans", TestIndexedReadsMatchScans},
		{"IndexCorruptSegmentIsReadWithout", TestIndexCorruptSegmentIsReadWithout},
		{"IndexSegmentsExpireWithTheirEvents", TestIndexSegmentsExpireWithTheirEvents},
		{"IndexCatchesUpAfterReopen", TestIndexCatchesUpAfterReopen},
		{"GroupReaderCloseEarly", TestGroupReaderCloseEarly},
		{"DeleteStreamsLeavesNothing", TestDeleteStreamsLeavesNothing},
	} {
		t.Run(tc.name, tc.test)
	}
}
