// Package firehose carries log groups' events onward in batches, as
// CloudWatch Logs subscription filters feeding Data Firehose delivery
// streams do: a delivery stream buffers what its sources send by size and
// by time, optionally compresses it, and writes each buffer as one object
// to an S3-compatible bucket under a time-partitioned prefix.
//
// A source is a log group read from a durable cursor (a subscription
// filter, or an organization's archive of an account's group). The worker
// reads each source's events after its cursor, keeps those its pattern
// matches, and puts them in its destination's buffer as CloudWatch Logs'
// subscription messages (Payload). The cursor moves on only once the
// object holding them is written, so a server that stops loses nothing:
// the next one reads the events again from the cursor (at least once, in
// order per log stream). The buffers are in memory, bounded by their
// streams' sizes and by a total (Options.MaxBuffered); the events
// themselves stay in the log store until delivered.
//
// Object layout, as Firehose's: PREFIX + YYYY/MM/DD/HH/ (UTC, when the
// object is written) + NAME-1-YYYY-MM-DD-HH-MM-SS-RANDOM, with ".gz" when
// compressed. A prefix may place the time itself (!{timestamp:yyyy/MM/dd})
// and name the source (!{source:account}, !{source:logGroup}), which
// partitions the stream: each source's records then go to their own
// objects, as Firehose's dynamic partitioning does. Each line of an object
// is one subscription message, decompressed, as Firehose writes CloudWatch
// Logs records when told to decompress them and add a newline delimiter.
package firehose

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postern/postern/ids"
	"github.com/postern/postern/lazyregexp"
)

// Destinations of a stream, Firehose's.
const (
	DestS3 = "S3"
	// DestHTTP POSTs each record to an HTTPS endpoint (a webhook).
	DestHTTP = "HTTP"
	// DestOpenSearch indexes each event in OpenSearch or Elasticsearch.
	DestOpenSearch = "OpenSearch"
)

// Compression values, Firehose's CompressionFormat.
const (
	Uncompressed = "UNCOMPRESSED"
	GZIP         = "GZIP"
)

// Buffering bounds, Firehose's for S3 destinations. An interval of 0
// writes as soon as records arrive (Firehose's zero buffering).
const (
	MinBufferBytes        = 1 << 20
	MaxBufferBytes        = 128 << 20
	DefaultBufferBytes    = 5 << 20
	MaxBufferInterval     = 900 * time.Second
	DefaultBufferInterval = 300 * time.Second
)

// Stream is a delivery stream's settings.
type Stream struct {
	Account string
	Name    string // Firehose's rules: 1-64 of [a-zA-Z0-9_.-]
	// Bucket and Prefix are where objects go (the server's S3-compatible
	// storage). ErrorPrefix, when set, takes the batches the bucket
	// refuses for good (see Worker). For the other destinations, Bucket
	// and ErrorPrefix are the backup of the records they refuse for good.
	Bucket, Prefix, ErrorPrefix string
	BufferBytes                 int64
	BufferInterval              time.Duration
	Compression                 string
	// Destination is DestS3 (also when empty), DestHTTP or
	// DestOpenSearch; the settings of the last two are the caller's
	// (Target), as the worker hands records to Deps.Send.
	Destination string          `json:",omitempty"`
	Target      json.RawMessage `json:",omitempty"`
	// PerEvent makes each record hold one event, for destinations that
	// take events one by one (event rules' targets).
	PerEvent bool `json:",omitempty"`
	// KeyARN, when set, is the Postern key each object is sealed with
	// (package envelope), as the session logs are.
	KeyARN    string
	CreatedAt time.Time
}

// ARN is the stream's resource name,
// prn:postern:firehose:ACCOUNT:deliverystream/NAME.
func (s Stream) ARN() string { return ids.ARN("firehose", s.Account, "deliverystream", s.Name) }

// ParseARN splits a delivery stream's resource name.
func ParseARN(arn string) (account, name string, err error) {
	rest, ok := strings.CutPrefix(arn, "prn:postern:firehose:")
	if ok {
		account, rest, ok = strings.Cut(rest, ":")
	}
	if ok {
		name, ok = strings.CutPrefix(rest, "deliverystream/")
	}
	if !ok || !ids.ValidAccount(account) || !reName.MatchString(name) {
		return "", "", fmt.Errorf("%q is not a delivery stream's ARN (prn:postern:firehose:ACCOUNT:deliverystream/NAME)", arn)
	}
	return account, name, nil
}

var (
	reName   = lazyregexp.New(`^[a-zA-Z0-9_.-]{1,64}$`)
	rePrefix = lazyregexp.New(`^[^\x00-\x1f\x7f\\]*$`)
)

// Defaults fills the size and compression s leaves zero. The interval has
// no zero default: 0 is zero buffering, so callers default it themselves.
func (s *Stream) Defaults() {
	if s.BufferBytes == 0 {
		s.BufferBytes = DefaultBufferBytes
	}
	if s.Compression == "" {
		s.Compression = Uncompressed
	}
}

// Validate says what is wrong with s's settings, naming each field.
func (s Stream) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !reName.MatchString(s.Name) {
		bad("name %q: 1 to 64 letters, digits, '_', '.' or '-'", s.Name)
	}
	switch s.Destination {
	case "", DestS3:
		if s.Bucket == "" {
			bad("bucket: required")
		}
	case DestHTTP, DestOpenSearch:
		// The bucket is then the backup of what the destination
		// refuses for good, under the error prefix.
		if s.KeyARN != "" {
			bad("key: only for an S3 destination")
		}
		if (s.Bucket == "") != (s.ErrorPrefix == "") {
			bad("bucket and error prefix: both or neither (the backup of what %s refuses)", s.Destination)
		}
	default:
		bad("destination %q: %s, %s or %s", s.Destination, DestS3, DestHTTP, DestOpenSearch)
	}
	for field, p := range map[string]string{"prefix": s.Prefix, "error prefix": s.ErrorPrefix} {
		if len(p) > 1024 || !rePrefix.MatchString(p) || strings.HasPrefix(p, "/") {
			bad("%s %q: at most 1024 characters, no control characters or backslash, not starting with '/'", field, p)
			continue
		}
		if _, err := parsePrefix(p); err != nil {
			bad("%s: %v", field, err)
		}
	}
	if s.BufferBytes < MinBufferBytes || s.BufferBytes > MaxBufferBytes {
		bad("buffer size %d bytes: from 1 to 128 MiB", s.BufferBytes)
	}
	if s.BufferInterval < 0 || s.BufferInterval > MaxBufferInterval || s.BufferInterval%time.Second != 0 {
		bad("buffer interval %v: whole seconds from 0 to 900", s.BufferInterval)
	}
	if s.Compression != Uncompressed && s.Compression != GZIP {
		bad("compression %q: %s or %s", s.Compression, Uncompressed, GZIP)
	}
	return errors.Join(errs...)
}

// prefixPart is a literal or one !{namespace:name} expression of a prefix.
type prefixPart struct {
	lit        string
	namespace  string // "timestamp" or "source"; empty for a literal
	name       string // the timestamp's layout (Go's), or the source field
	timeLayout bool
}

// parsePrefix splits a prefix into literals and expressions: Firehose's
// !{timestamp:FORMAT} (the letters yyyy, MM, dd, HH, mm, ss of Java's
// DateTimeFormatter, with any separators) and Postern's !{source:account},
// !{source:logGroup}.
func parsePrefix(p string) ([]prefixPart, error) {
	var parts []prefixPart
	for {
		i := strings.Index(p, "!{")
		if i < 0 {
			if p != "" {
				parts = append(parts, prefixPart{lit: p})
			}
			return parts, nil
		}
		if i > 0 {
			parts = append(parts, prefixPart{lit: p[:i]})
		}
		end := strings.IndexByte(p[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: an expression !{ is not closed by }", p[i:])
		}
		expr := p[i+2 : i+end]
		ns, name, _ := strings.Cut(expr, ":")
		switch ns {
		case "timestamp":
			layout, err := javaLayout(name)
			if err != nil {
				return nil, fmt.Errorf("!{%s}: %w", expr, err)
			}
			parts = append(parts, prefixPart{namespace: ns, name: layout, timeLayout: true})
		case "source":
			if name != "account" && name != "logGroup" {
				return nil, fmt.Errorf("!{%s}: the source's fields are account and logGroup", expr)
			}
			parts = append(parts, prefixPart{namespace: ns, name: name})
		default:
			return nil, fmt.Errorf("!{%s}: expressions are !{timestamp:FORMAT}, !{source:account} and !{source:logGroup}", expr)
		}
		p = p[i+end+1:]
	}
}

// javaLayout turns a DateTimeFormatter pattern of the common letters into
// a Go layout.
func javaLayout(f string) (string, error) {
	if f == "" {
		return "", errors.New("no format")
	}
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05")
	out := r.Replace(f)
	for _, c := range out {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return "", fmt.Errorf("format %q: use yyyy, MM, dd, HH, mm and ss, and separators", f)
		}
	}
	return out, nil
}

// partitioned reports whether a prefix names the source.
func partitioned(parts []prefixPart) bool {
	for _, p := range parts {
		if p.namespace == "source" {
			return true
		}
	}
	return false
}

// expand evaluates a prefix for a source at t (UTC). Without a timestamp
// expression the time partition YYYY/MM/DD/HH/ is appended, as Firehose
// does.
func expand(parts []prefixPart, account, group string, t time.Time) string {
	var b strings.Builder
	timed := false
	for _, p := range parts {
		switch {
		case p.timeLayout:
			timed = true
			b.WriteString(t.UTC().Format(p.name))
		case p.namespace == "source" && p.name == "account":
			b.WriteString(account)
		case p.namespace == "source":
			b.WriteString(strings.TrimPrefix(group, "/"))
		default:
			b.WriteString(p.lit)
		}
	}
	if !timed {
		b.WriteString(t.UTC().Format("2006/01/02/15/"))
	}
	return b.String()
}

// objectName is the last part of an object's key, as Firehose names them:
// NAME-VERSION-YYYY-MM-DD-HH-MM-SS-RANDOM.
func objectName(stream string, t time.Time, gzip bool) string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	name := strings.ReplaceAll(stream, ":", "-") + "-1-" + t.UTC().Format("2006-01-02-15-04-05") + "-" + hex.EncodeToString(r[:])
	if gzip {
		name += ".gz"
	}
	return name
}
