// Package subscriptions is what reads log groups onward: subscription
// filters and the delivery streams they feed (package firehose), event
// rules and their targets (rules.go, over each account's event group of
// package events), and every organization's archive of its accounts' log
// groups. It serves their API and gives the firehose worker its sources.
//
// Subscription filters and delivery streams live in the log store, beside
// the groups they read; a filter names its stream by ARN, and only a
// stream of its own account.
package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/filterpattern"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/searchindex"
	"github.com/postern/postern/webhook"
)

// LogStore is what subscriptions need of the log store.
type LogStore interface {
	PutSubscriptionFilter(ctx context.Context, f logstore.SubscriptionFilter) error
	DeleteSubscriptionFilter(ctx context.Context, account, group, name string) error
	SubscriptionFilters(ctx context.Context, account string) ([]logstore.SubscriptionFilter, error)
	Cursor(ctx context.Context, account, group, filter string) (int64, bool, error)
	SaveCursor(ctx context.Context, account, group, filter string, id int64) error
	Backlog(ctx context.Context, account, group string, after int64) (int64, time.Time, error)
	CreateDeliveryStream(ctx context.Context, d logstore.DeliveryStream) error
	DeliveryStreams(ctx context.Context, account string) ([]logstore.DeliveryStream, error)
	DeleteDeliveryStream(ctx context.Context, account, name string) error
	Groups(ctx context.Context, account string) ([]logstore.Group, error)
	PutRule(ctx context.Context, r logstore.Rule) error
	Rules(ctx context.Context, account string) ([]logstore.Rule, error)
	DeleteRule(ctx context.Context, account, name string) error
	LastEventID(ctx context.Context, account, group string) (int64, error)
	DeleteCursor(ctx context.Context, account, group, filter string) error
}

// Archive is an organization's archive as log shipping needs it: where
// its members' session log groups go.
type Archive struct {
	Org     string
	Account string // the archive account
	Bucket  string
	Prefix  string // without a trailing '/'
	KeyARN  string
	// Interval is how long shipped events are buffered.
	Interval time.Duration
	// Members are the organization's accounts, the archive's own too.
	Members []string
	// Groups name the log groups shipped of each member: names, or
	// prefixes ending in '*'.
	Groups []string
}

// Ships reports whether the archive ships a log group of that name.
func (a Archive) Ships(group string) bool {
	for _, g := range a.Groups {
		if p, ok := strings.CutSuffix(g, "*"); ok && strings.HasPrefix(group, p) || g == group {
			return true
		}
	}
	return false
}

// ArchivedGroups are the account's log groups the archive ships.
func (h *Handlers) ArchivedGroups(ctx context.Context, a Archive, account string) ([]string, error) {
	gs, err := h.Logs.Groups(ctx, account)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range gs {
		if a.Ships(g.Name) {
			out = append(out, g.Name)
		}
	}
	return out, nil
}

// Deps are what the handlers and sources need from the server.
type Deps struct {
	Logs LogStore
	Now  func() time.Time
	Logf logger.Logf
	// Authorize checks action for the request's caller on resource.
	Authorize func(r *http.Request, action authz.Action, resource authz.Entity) error
	// CheckBucket checks that objects can be written under a bucket's
	// prefix; nil: the server has no S3 destination, and streams are
	// refused.
	CheckBucket func(ctx context.Context, bucket, prefix string) error
	// CheckEndpoint posts a control message to a webhook; nil: HTTP
	// destinations are refused.
	CheckEndpoint func(ctx context.Context, e webhook.Endpoint) error
	// CheckTarget checks that a rule's target can be reached (a
	// webhook's TLS, an SNS topic's existence) without sending it
	// anything; nil: not checked.
	CheckTarget func(ctx context.Context, t api.RuleTarget) error
	// CheckSearch checks that an OpenSearch cluster answers and takes
	// the stream's index template; nil: OpenSearch destinations are
	// refused.
	CheckSearch func(ctx context.Context, d searchindex.Destination) error
	// Status is the worker's account of each stream, by ARN.
	Status func() map[string]firehose.StreamStatus
	// Kick tells the worker that sources changed.
	Kick func()
	// CheckKey resolves a key reference of account (ID, alias or ARN)
	// to its ARN, and checks that the stream arn may seal objects with
	// it; nil: the server has no keys, and streams with one are refused.
	CheckKey func(ctx context.Context, account, ref, arn string) (keyARN string, err error)
	// ObjectKey unwraps, as the request's caller, the key of a stream's
	// sealed object.
	ObjectKey func(r *http.Request, s firehose.Stream, req api.DeliveryStreamKeyRequest) ([]byte, error)
	// Archives lists the organizations' archives; nil: none.
	Archives func(ctx context.Context) ([]Archive, error)
}

// ArchiveStreamName is the delivery stream an archive ships log groups
// through. Its ':' keeps it from any stream a user can name.
const ArchiveStreamName = "postern:archive"

// ArchiveCursor names an archive's cursor in each group it ships.
const ArchiveCursor = "postern:archive"

// Handlers serve the subscription and delivery stream API.
type Handlers struct{ Deps }

// New returns the handlers.
func New(d Deps) *Handlers {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logf == nil {
		d.Logf = logger.Discard
	}
	if d.Status == nil {
		d.Status = func() map[string]firehose.StreamStatus { return nil }
	}
	if d.Kick == nil {
		d.Kick = func() {}
	}
	return &Handlers{d}
}

// Routes are the API's routes, for the server's table.
func (h *Handlers) Routes() []httpapi.Route {
	sf := api.PathLogGroups + "/subscription-filters"
	ds := api.PathDeliveryStreams
	return []httpapi.Route{
		{Pattern: "GET " + sf, Action: authz.DescribeSubscriptionFilters, Handler: h.listFilters},
		{Pattern: "PUT " + sf, Action: authz.PutSubscriptionFilter, Handler: h.putFilter},
		{Pattern: "DELETE " + sf, Action: authz.DeleteSubscriptionFilter, Handler: h.deleteFilter},
		{Pattern: "GET " + ds, Action: authz.DescribeDeliveryStreams, Handler: h.listStreams},
		{Pattern: "POST " + ds, Action: authz.CreateDeliveryStream, Handler: h.createStream},
		{Pattern: "GET " + ds + "/{name}", Action: authz.DescribeDeliveryStreams, Handler: h.describeStream},
		{Pattern: "DELETE " + ds + "/{name}", Action: authz.DeleteDeliveryStream, Handler: h.deleteStream},
		{Pattern: "POST " + ds + "/{name}/key", Action: authz.DescribeDeliveryStreams, Handler: h.objectKey},
		{Pattern: "GET " + api.PathRules, Action: authz.DescribeRules, Handler: h.listRules},
		{Pattern: "PUT " + api.PathRules, Action: authz.PutRule, Handler: h.putRule},
		{Pattern: "DELETE " + api.PathRules, Action: authz.DeleteRule, Handler: h.deleteRule},
	}
}

// storeError turns the log store's errors into the API's.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, logstore.ErrNotFound):
		return httpapi.Errorf(http.StatusNotFound, api.CodeResourceNotFoundException, "%s does not exist", what)
	case errors.Is(err, logstore.ErrExists):
		return httpapi.Errorf(http.StatusConflict, api.CodeResourceAlreadyExistsException, "%s already exists", what)
	case errors.Is(err, logstore.ErrInvalid):
		return httpapi.Errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "%v", err)
	}
	return err
}

func invalid(format string, args ...any) error {
	return httpapi.Errorf(http.StatusBadRequest, api.CodeInvalidParameterException, format, args...)
}

// streams returns the account's delivery streams, or every account's.
func (h *Handlers) streams(ctx context.Context, account string) ([]firehose.Stream, error) {
	ds, err := h.Logs.DeliveryStreams(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make([]firehose.Stream, 0, len(ds))
	for _, d := range ds {
		var s firehose.Stream
		if err := json.Unmarshal([]byte(d.Settings), &s); err != nil {
			return nil, fmt.Errorf("delivery stream %s: its settings: %w", d.Name, err)
		}
		s.Account, s.Name, s.CreatedAt = d.Account, d.Name, d.CreatedAt
		out = append(out, s)
	}
	return out, nil
}

// Sources are what the firehose worker delivers: every subscription
// filter whose stream exists, and every archive's members' groups.
func (h *Handlers) Sources(ctx context.Context) ([]firehose.Source, error) {
	fs, err := h.Logs.SubscriptionFilters(ctx, "")
	if err != nil {
		return nil, err
	}
	all, err := h.streams(ctx, "")
	if err != nil {
		return nil, err
	}
	byARN := make(map[string]firehose.Stream, len(all))
	for _, s := range all {
		byARN[s.ARN()] = s
	}
	var out []firehose.Source
	for _, f := range fs {
		s, ok := byARN[f.DestinationARN]
		if !ok || s.Account != f.Account {
			continue // its stream was deleted: nothing to send to
		}
		src := firehose.Source{Account: f.Account, Group: f.Group, Filter: f.Name, Cursor: f.Cursor, Stream: s}
		if f.Pattern != "" {
			p, err := filterpattern.Parse(f.Pattern)
			if err != nil {
				h.Logf("subscriptions: %s %s: %v", f.Group, f.Name, err)
				continue
			}
			src.Pattern = p // not a nil *Pattern in the interface
		}
		out = append(out, src)
	}
	rules, err := h.ruleSources(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, rules...)
	if h.Archives == nil {
		return out, nil
	}
	as, err := h.Archives(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		s := ArchiveStream(a)
		for _, m := range a.Members {
			groups, err := h.ArchivedGroups(ctx, a, m)
			if err != nil {
				return nil, err
			}
			for _, g := range groups {
				cur, _, err := h.Logs.Cursor(ctx, m, g, ArchiveCursor)
				if errors.Is(err, logstore.ErrNotFound) {
					continue // the member has no such group yet
				}
				if err != nil {
					return nil, err
				}
				out = append(out, firehose.Source{Account: m, Group: g, Filter: ArchiveCursor, Cursor: cur, Stream: s})
			}
		}
	}
	return out, nil
}

// ArchiveStream is the delivery stream of an archive's shipped log
// groups: objects at PREFIX/ACCOUNT/logs/GROUP/YYYY/MM/DD/HH/, gzipped
// and sealed with the archive's key.
func ArchiveStream(a Archive) firehose.Stream {
	prefix := "!{source:account}/logs/!{source:logGroup}/"
	if a.Prefix != "" {
		prefix = a.Prefix + "/" + prefix
	}
	return firehose.Stream{
		Account: a.Account, Name: ArchiveStreamName, Bucket: a.Bucket, Prefix: prefix,
		BufferBytes: firehose.DefaultBufferBytes, BufferInterval: a.Interval, Compression: firehose.GZIP, KeyARN: a.KeyARN,
	}
}
