package desktop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/postern/postern/api"
	"github.com/postern/postern/document"
	"github.com/postern/postern/ids"
)

// MaxPreferences bounds a preferences document, as session documents are.
const MaxPreferences = 64 << 10

// ParsePreferences reads and validates an account's connection recording
// preferences (AWS::SSMGuiConnect::Preferences): every mistake is named
// with its path, all at once, as session documents' are.
func ParsePreferences(content []byte) (api.DesktopPreferences, error) {
	var p api.DesktopPreferences
	if len(content) > MaxPreferences {
		return p, fmt.Errorf("preferences are %d bytes, more than %d", len(content), MaxPreferences)
	}
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("not a preferences document: %w", err)
	}
	if dec.More() {
		return p, errors.New("not a preferences document: more than one JSON value")
	}
	c := p.ConnectionRecordingPreferences
	if c == nil {
		return p, nil // recording goes to the server's own store only
	}
	var errs []error
	const at = "ConnectionRecordingPreferences."
	if c.KMSKeyArn == "" {
		errs = append(errs, errors.New(at+"KMSKeyArn: a key is required: recordings are always sealed"))
	} else if err := document.ValidKeyID(c.KMSKeyArn); err != nil {
		errs = append(errs, fmt.Errorf(at+"KMSKeyArn: %w", err))
	}
	bs := c.RecordingDestinations.S3Buckets
	if len(bs) != 1 {
		errs = append(errs, fmt.Errorf(at+"RecordingDestinations.S3Buckets: exactly one bucket is required, not %d", len(bs)))
	}
	for i, b := range bs {
		where := fmt.Sprintf(at+"RecordingDestinations.S3Buckets[%d].", i)
		if err := document.ValidBucketName(b.BucketName); err != nil {
			errs = append(errs, fmt.Errorf(where+"BucketName: %w", err))
		}
		if !ids.ValidAccount(b.BucketOwner) {
			errs = append(errs, fmt.Errorf(where+"BucketOwner: %q is not an account id (12 digits)", b.BucketOwner))
		}
	}
	if c.KeyPrefix != "" {
		if err := document.ValidKeyPrefix(c.KeyPrefix); err != nil {
			errs = append(errs, fmt.Errorf(at+"KeyPrefix: %w", err))
		}
	}
	return p, errors.Join(errs...)
}
