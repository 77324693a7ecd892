package desktop

import (
	"strings"
	"testing"
)

func TestParsePreferences(t *testing.T) {
	good := `{"ConnectionRecordingPreferences":{"KMSKeyArn":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"RecordingDestinations":{"S3Buckets":[{"BucketName":"desktop-recordings","BucketOwner":"111122223333"}]},"KeyPrefix":"rdp"}}`
	p, err := ParsePreferences([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c := p.ConnectionRecordingPreferences; c == nil || c.RecordingDestinations.S3Buckets[0].BucketName != "desktop-recordings" || c.KeyPrefix != "rdp" || c.RecordKeyEvents {
		t.Fatalf("parsed %+v", p)
	}
	if p, err := ParsePreferences([]byte(`{}`)); err != nil || p.ConnectionRecordingPreferences != nil {
		t.Fatalf("empty preferences: %+v, %v", p, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"ConnectionRecordingPreferences":{"RecordingDestinations":{"S3Buckets":[]}}}`, "KMSKeyArn: a key is required"},
		{`{"ConnectionRecordingPreferences":{"KMSKeyArn":"nope key","RecordingDestinations":{"S3Buckets":[]}}}`, "KMSKeyArn: \"nope key\" is not a KMS key"},
		{`{"ConnectionRecordingPreferences":{"KMSKeyArn":"alias/rec","RecordingDestinations":{"S3Buckets":[]}}}`, "exactly one bucket is required, not 0"},
		{`{"ConnectionRecordingPreferences":{"KMSKeyArn":"alias/rec","RecordingDestinations":{"S3Buckets":[{"BucketName":"Bad_Bucket","BucketOwner":"12"}]}}}`, "S3Buckets[0].BucketName"},
		{`{"ConnectionRecordingPreferences":{"KMSKeyArn":"alias/rec","RecordingDestinations":{"S3Buckets":[{"BucketName":"ok-bucket","BucketOwner":"12"}]}}}`, `BucketOwner: "12" is not an account id`},
		{`{"ConnectionRecordingPreferences":{"KMSKeyArn":"alias/rec","RecordingDestinations":{"S3Buckets":[{"BucketName":"ok-bucket","BucketOwner":"111122223333"}]},"KeyPrefix":"/x"}}`, "KeyPrefix"},
		{`{"ConnectionRecordingPreference":{}}`, `unknown field "ConnectionRecordingPreference"`},
		{`{} {}`, "more than one JSON value"},
		{`[`, "not a preferences document"},
	} {
		_, err := ParsePreferences([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParsePreferences(f *testing.F) {
	f.Add([]byte(`{"ConnectionRecordingPreferences":{"KMSKeyArn":"alias/rec","RecordingDestinations":{"S3Buckets":[{"BucketName":"ok-bucket","BucketOwner":"111122223333"}]}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePreferences(b)
		if err == nil && p.ConnectionRecordingPreferences != nil && len(p.ConnectionRecordingPreferences.RecordingDestinations.S3Buckets) != 1 {
			t.Fatalf("accepted %d buckets", len(p.ConnectionRecordingPreferences.RecordingDestinations.S3Buckets))
		}
	})
}
