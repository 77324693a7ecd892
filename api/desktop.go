package api

// DesktopPreferences are an account's preferences for remote desktop
// connections, in the shape of AWS::SSMGuiConnect::Preferences (GET and
// PUT PathDesktopPreferences).
type DesktopPreferences struct {
	ConnectionRecordingPreferences *ConnectionRecordingPreferences `json:"ConnectionRecordingPreferences,omitempty"`
}

// ConnectionRecordingPreferences say where desktop connections' recordings
// go: one S3 bucket, sealed with a key. Each connection is delivered when
// it ends as PREFIX/SESSIONID.guac (the Guacamole protocol the browser was
// sent) and PREFIX/SESSIONID.json (who, where, when, the recording's size
// and SHA-256). A bucket that cannot be verified refuses new connections.
type ConnectionRecordingPreferences struct {
	// KMSKeyArn seals the recordings (and the journal at the server): an
	// AWS KMS key ARN (SSE-KMS in the bucket too) or one of Postern's keys.
	KMSKeyArn             string                `json:"KMSKeyArn"`
	RecordingDestinations RecordingDestinations `json:"RecordingDestinations"`
	// KeyPrefix, a Postern extension, goes before each object's name.
	KeyPrefix string `json:"KeyPrefix,omitempty"`
	// RecordKeyEvents, a Postern extension, also records the keys the
	// user presses. Off by default: passwords are typed into desktops too.
	RecordKeyEvents bool `json:"RecordKeyEvents,omitempty"`
}

// RecordingDestinations are where recordings go: exactly one bucket, as
// Systems Manager allows.
type RecordingDestinations struct {
	S3Buckets []S3BucketDestination `json:"S3Buckets"`
}

// S3BucketDestination is a bucket and the account that owns it.
type S3BucketDestination struct {
	BucketName  string `json:"BucketName"`
	BucketOwner string `json:"BucketOwner"`
}
