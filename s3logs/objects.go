package s3logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Errors of Bucket's operations, wrapped; test with errors.Is.
var (
	// ErrObjectExists: PutNew found an object under the key already.
	ErrObjectExists = errors.New("S3 object exists already")
	// ErrNoObject: there is no object under the key.
	ErrNoObject = errors.New("no such S3 object")
)

// Bucket is plain object operations on one bucket under a prefix, for
// data Postern keeps there itself (package journalstore's recordings)
// rather than delivers: conditional writes, listing, ranged reads and
// deletes. Keys given to it are relative to the prefix.
type Bucket struct {
	c      *Client
	t      Target
	prefix string // t.Prefix with one trailing "/", or ""
}

// Bucket returns the operations on t's bucket under t's prefix. The names
// are checked as Put checks them, at each call.
func (c *Client) Bucket(t Target) *Bucket {
	p := strings.TrimSuffix(t.Prefix, "/")
	if p != "" {
		p += "/"
	}
	return &Bucket{c: c, t: t, prefix: p}
}

// ObjectInfo describes one object: its key (relative to the prefix) and
// size.
type ObjectInfo struct {
	Key  string
	Size int64
}

func (b *Bucket) key(name string) (string, error) {
	k, err := Key(b.t, name)
	if err != nil {
		return "", &PutError{Bucket: b.t.Bucket, Key: b.prefix + name, Reason: err.Error(), Err: err}
	}
	return k, nil
}

func (b *Bucket) fail(ctx context.Context, op, key string, err error) error {
	switch code, status, _ := apiDetails(err); {
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound:
		return fmt.Errorf("s3://%s/%s: %w", b.t.Bucket, key, ErrNoObject)
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed,
		code == "ConditionalRequestConflict" || status == http.StatusConflict: // another put of the key in flight
		return fmt.Errorf("s3://%s/%s: %w", b.t.Bucket, key, ErrObjectExists)
	}
	return &PutError{Bucket: b.t.Bucket, Key: key, Reason: b.c.explain(ctx, err, b.t, op), Err: err}
}

func (b *Bucket) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.c.timeout)
}

// PutNew stores body under name only if no object has that name
// (If-None-Match: *), so that two writers can never both believe they
// wrote it: the second gets ErrObjectExists.
func (b *Bucket) PutNew(ctx context.Context, name string, body []byte) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.t.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		IfNoneMatch:   aws.String("*"),
		ContentType:   aws.String("application/octet-stream"),
	}
	if b.c.storage != "" {
		in.StorageClass = b.c.storage
	}
	if b.t.KMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(b.t.KMSKeyID)
	}
	cctx, cancel := b.call(ctx)
	defer cancel()
	if _, err := b.c.s3.PutObject(cctx, in); err != nil {
		return b.fail(ctx, "PutObject", key, err)
	}
	return nil
}

// PutFile stores what r reads under name, replacing any object of that
// name; large bodies go in parts, as Put's.
func (b *Bucket) PutFile(ctx context.Context, name string, r io.ReadSeeker) error {
	if _, err := b.key(name); err != nil {
		return err
	}
	_, err := b.c.Put(ctx, b.t, name, "application/octet-stream", r)
	return err
}

// List returns every object whose name starts with prefix, in key order.
func (b *Bucket) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	full := b.prefix + prefix
	var out []ObjectInfo
	p := s3.NewListObjectsV2Paginator(b.c.s3, &s3.ListObjectsV2Input{Bucket: aws.String(b.t.Bucket), Prefix: aws.String(full)})
	for p.HasMorePages() {
		cctx, cancel := b.call(ctx)
		page, err := p.NextPage(cctx)
		cancel()
		if err != nil {
			return nil, b.fail(ctx, "ListObjectsV2", full, err)
		}
		for _, o := range page.Contents {
			out = append(out, ObjectInfo{Key: strings.TrimPrefix(aws.ToString(o.Key), b.prefix), Size: aws.ToInt64(o.Size)})
		}
	}
	return out, nil
}

// Get returns the object's bytes from offset on. The caller closes it.
// Each read is bounded by the client's timeout, so a stalled endpoint
// ends the read rather than hanging it.
func (b *Bucket) Get(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	key, err := b.key(name)
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.t.Bucket), Key: aws.String(key)}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	cctx, cancel := context.WithCancel(ctx)
	t := time.AfterFunc(b.c.timeout, cancel)
	out, err := b.c.s3.GetObject(cctx, in, func(o *s3.Options) {
		// MinIO sends no checksum the SDK knows; the journal's own CRCs
		// check what is read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	if err != nil {
		t.Stop()
		cancel()
		return nil, b.fail(ctx, "GetObject", key, err)
	}
	return &timedBody{ReadCloser: out.Body, t: t, d: b.c.timeout, cancel: cancel}, nil
}

// timedBody cancels its request when no read completes within d.
type timedBody struct {
	io.ReadCloser
	t      *time.Timer
	d      time.Duration
	cancel context.CancelFunc
}

func (tb *timedBody) Read(p []byte) (int, error) {
	n, err := tb.ReadCloser.Read(p)
	tb.t.Reset(tb.d)
	return n, err
}

func (tb *timedBody) Close() error {
	tb.t.Stop()
	err := tb.ReadCloser.Close()
	tb.cancel()
	return err
}

// Delete removes the named objects; names that do not exist are not an
// error.
func (b *Bucket) Delete(ctx context.Context, names ...string) error {
	for len(names) > 0 {
		n := min(len(names), 1000) // DeleteObjects' limit
		ids := make([]types.ObjectIdentifier, 0, n)
		for _, name := range names[:n] {
			key, err := b.key(name)
			if err != nil {
				return err
			}
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(key)})
		}
		names = names[n:]
		cctx, cancel := b.call(ctx)
		out, err := b.c.s3.DeleteObjects(cctx, &s3.DeleteObjectsInput{Bucket: aws.String(b.t.Bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		cancel()
		if err != nil {
			return b.fail(ctx, "DeleteObjects", b.prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("s3://%s/%s: delete: %s: %s (and %d more)", b.t.Bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
	}
	return nil
}

// Check verifies that the bucket exists and these credentials reach it.
func (b *Bucket) Check(ctx context.Context) error { return b.c.Check(ctx, b.t) }
