package server

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/envelope"
	"github.com/postern/postern/events"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/orgs"
	"github.com/postern/postern/runcommand"
	"github.com/postern/postern/searchindex"
	"github.com/postern/postern/snstopic"
	"github.com/postern/postern/subscriptions"
	"github.com/postern/postern/webhook"
)

// archiveLogsInterval is how long an archive buffers the log events it
// ships when its settings do not say.
const archiveLogsInterval = 60 * time.Second

// subscriptions is the subscription filter and delivery stream API
// (package subscriptions), and the firehose worker's sources.
func (s *Server) subscriptions() *subscriptions.Handlers {
	d := subscriptions.Deps{
		Now: s.now, Logf: s.logf,
		Authorize: func(r *http.Request, action authz.Action, resource authz.Entity) error {
			return s.authorize(r, action, resource)
		},
		Archives: s.logArchives,
	}
	if s.cfg.LogStore != nil {
		d.Logs = s.cfg.LogStore
	}
	if s.firehose != nil {
		d.Status, d.Kick = s.firehose.Status, s.firehose.Kick
	}
	d.CheckTarget = func(ctx context.Context, t api.RuleTarget) error {
		switch {
		case t.Webhook != nil:
			return s.webhooks.Reach(ctx, webhook.Endpoint{URL: t.Webhook.URL, CAPEM: t.Webhook.CAPEM})
		case t.SNSTopicARN != "":
			return s.sns.Check(ctx, t.SNSTopicARN)
		}
		return nil
	}
	d.CheckEndpoint = func(ctx context.Context, e webhook.Endpoint) error {
		body, err := webhookBody(e, controlMessage(s.now()))
		if err != nil {
			return err
		}
		return s.webhooks.Post(ctx, e, "control-"+newTokenID(), body)
	}
	d.CheckSearch = func(ctx context.Context, dest searchindex.Destination) error {
		ctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		return s.searchIndex.Check(ctx, dest)
	}
	if s.cfg.Keys != nil {
		d.CheckKey, d.ObjectKey = s.checkStreamKey, s.streamObjectKey
	}
	if s.cfg.S3 != nil {
		d.CheckBucket = func(ctx context.Context, bucket, prefix string) error {
			return check(ctx, func(ctx context.Context) error { return s.cfg.S3.Check(ctx, S3Target{Bucket: bucket}) })
		}
	}
	return subscriptions.New(d)
}

// subscriptionRoutes are package subscriptions' routes, refused with
// NoLogStore on a server without the built-in log store.
func (s *Server) subscriptionRoutes() []route {
	rs := s.subscriptions().Routes()
	if s.cfg.LogStore == nil {
		for i := range rs {
			rs[i].Handler = func(w http.ResponseWriter, r *http.Request) error {
				_, err := s.logStore()
				return err
			}
		}
	}
	return rs
}

// logArchives are the organizations' archives, with their members, for
// shipping their session log groups.
func (s *Server) logArchives(ctx context.Context) ([]subscriptions.Archive, error) {
	os, err := s.store.ListOrganizations(ctx)
	if err != nil {
		return nil, err
	}
	var out []subscriptions.Archive
	for _, o := range os {
		a, err := orgs.ArchiveOf(o)
		if err != nil || a == nil {
			continue
		}
		accts, err := s.store.ListAccounts(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		ar := archiveOf(o.ID, a)
		for _, acct := range accts {
			ar.Members = append(ar.Members, acct.ID)
		}
		out = append(out, ar)
	}
	return out, nil
}

// archiveOf is an archive's log shipping settings.
func archiveOf(org string, a *orgs.Archive) subscriptions.Archive {
	ar := subscriptions.Archive{Org: org, Account: a.Account, Bucket: a.Bucket, Prefix: a.Prefix, KeyARN: a.KeyARN,
		Interval: archiveLogsInterval, Groups: a.LogGroups}
	if a.LogsIntervalSeconds != nil {
		ar.Interval = time.Duration(*a.LogsIntervalSeconds) * time.Second
	}
	if len(ar.Groups) == 0 {
		ar.Groups = []string{OwnLogGroup}
	}
	return ar
}

// firehoseDeps gives the firehose worker what it works with.
func (s *Server) firehoseDeps() firehose.Deps {
	ls := s.cfg.LogStore
	h := s.subscriptions()
	return firehose.Deps{
		Now: s.now, Logf: s.logf,
		Sources:    h.Sources,
		Events:     ls.GroupEvents,
		SaveCursor: ls.SaveCursor,
		Put: func(ctx context.Context, bucket, key, contentType string, body []byte) error {
			if s.cfg.S3 == nil {
				return errors.New("this server has no S3 destination configured")
			}
			_, err := s.cfg.S3.Put(ctx, S3Target{Bucket: bucket}, key, contentType, bytes.NewReader(body))
			return err
		},
		Refused: func(err error) bool { return s3Refused(err) || webhook.Refused(err) },
		Seal:    s.sealShipped,
		Send:    s.sendRecords,
	}
}

// s3Refused reports whether S3 refused a put for good: a client error
// (access denied, a bad argument) rather than being down or busy.
func s3Refused(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		code := re.HTTPStatusCode()
		return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultClient && ae.ErrorCode() != "SlowDown"
}

// sealShipped seals an object of shipped log events: an archive's with the
// archive's key, as its other copies are (postern logs decrypt opens it).
func (s *Server) sealShipped(ctx context.Context, w io.Writer, st firehose.Stream, account, objectKey string) (io.WriteCloser, error) {
	if st.Name != subscriptions.ArchiveStreamName {
		return s.sealStreamObject(ctx, w, st, path.Base(objectKey))
	}
	a, org, err := orgs.ArchiveFor(ctx, s.store, s.store.GetOrganization, account)
	if err != nil {
		return nil, err
	}
	if a == nil || a.Account != st.Account {
		return nil, fmt.Errorf("account %s is no longer archived by account %s", account, st.Account)
	}
	return s.sealForArchive(ctx, w, a.Target(org), account, path.Base(objectKey), "logs")
}

// archiveLogsBacklog counts an account's log events its organization's
// archive has yet to ship, and says when the oldest was taken.
func (s *Server) archiveLogsBacklog(ctx context.Context, account string) (int64, time.Time, error) {
	ls := s.cfg.LogStore
	if ls == nil {
		return 0, time.Time{}, nil
	}
	a, org, err := orgs.ArchiveFor(ctx, s.store, s.store.GetOrganization, account)
	if err != nil || a == nil {
		return 0, time.Time{}, err
	}
	groups, err := s.subscriptions().ArchivedGroups(ctx, archiveOf(org, a), account)
	if err != nil {
		return 0, time.Time{}, err
	}
	var total int64
	var oldest time.Time
	for _, g := range groups {
		cur, _, err := ls.Cursor(ctx, account, g, subscriptions.ArchiveCursor)
		if err != nil {
			continue // deleted since: nothing owed
		}
		n, first, err := ls.Backlog(ctx, account, g, cur)
		if err != nil {
			continue
		}
		total += n
		if !first.IsZero() && (oldest.IsZero() || first.Before(oldest)) {
			oldest = first
		}
	}
	return total, oldest, nil
}

// streamContext is the encryption context of a delivery stream's object's
// data key.
func streamContext(streamARN, object string) keys.EncryptionContext {
	return keys.EncryptionContext{"postern:deliveryStream": streamARN, "postern:object": object}
}

// streamObjectKeyOf derives a stream object's key from its data key.
func streamObjectKeyOf(dataKey []byte, streamARN, object string) ([]byte, error) {
	return hkdf.Key(sha256.New, dataKey, nil, "postern delivery stream "+streamARN+"/"+object, 32)
}

// checkStreamKey resolves a delivery stream's key and checks that the
// account's recorder may seal with it, as a session's key is checked.
func (s *Server) checkStreamKey(ctx context.Context, account, ref, streamARN string) (string, error) {
	ka, id, err := s.cfg.Keys.KeyOf(ctx, account, ref)
	if err != nil {
		return "", err
	}
	arn := ids.KeyARN(ka, id)
	if err := s.cfg.Keys.Authorize(ctx, recorder(account), arn, "kms:GenerateDataKey", streamContext(streamARN, "")); err != nil {
		return "", err
	}
	return arn, nil
}

// sealStreamObject seals a delivery stream's object with the stream's
// key: a fresh data key its account's recorder makes, bound to the stream
// and the object's name.
func (s *Server) sealStreamObject(ctx context.Context, w io.Writer, st firehose.Stream, object string) (io.WriteCloser, error) {
	if s.cfg.Keys == nil {
		return nil, errors.New("this server has no key service")
	}
	ec := streamContext(st.ARN(), object)
	dk, wrapped, err := s.cfg.Keys.GenerateDataKey(ctx, recorder(st.Account), st.KeyARN, ec)
	if err != nil {
		return nil, fmt.Errorf("sealing with %s: %w", st.KeyARN, err)
	}
	key, err := streamObjectKeyOf(dk, st.ARN(), object)
	if err != nil {
		return nil, err
	}
	return envelope.NewWriter(w, envelope.Header{
		Account: st.Account, SessionID: object, Artifact: "logs",
		KeyARN: st.KeyARN, WrappedKey: wrapped, Context: ec, DeliveryStream: st.ARN(),
	}, key)
}

// streamObjectKey gives a reader the key of a stream's object, if the
// stream's key's policy lets them decrypt with it.
func (s *Server) streamObjectKey(r *http.Request, st firehose.Stream, req api.DeliveryStreamKeyRequest) ([]byte, error) {
	want := streamContext(st.ARN(), req.Object)
	if !maps.Equal(want, keys.EncryptionContext(req.Context)) {
		return nil, errors.New("the object's header does not match its encryption context")
	}
	dk, err := s.cfg.Keys.Decrypt(r.Context(), s.keyCaller(r.Context(), callerOf(r)), req.WrappedKey, want)
	if err != nil {
		return nil, err
	}
	return streamObjectKeyOf(dk, st.ARN(), req.Object)
}

// controlMessage is the payload CloudWatch Logs sends a destination to
// check it, when a subscription is made.
func controlMessage(now time.Time) []byte {
	b, _ := json.Marshal(firehose.Payload{
		MessageType: "CONTROL_MESSAGE", Owner: "CloudwatchLogs", SubscriptionFilters: []string{},
		LogEvents: []firehose.LogEvent{{ID: "", Timestamp: now.UnixMilli(), Message: "CWL CONTROL MESSAGE: Checking health of destination Postern delivery stream."}},
	})
	return b
}

// webhookBody is a record as an endpoint's format wants it.
func webhookBody(e webhook.Endpoint, record []byte) ([]byte, error) {
	if e.Format == webhook.FormatJSON {
		return record, nil
	}
	return webhook.AWSLogsBody(record)
}

// sendRecords delivers records of a stream that does not write to S3.
func (s *Server) sendRecords(ctx context.Context, st firehose.Stream, records [][]byte) (int, error) {
	switch st.Destination {
	case firehose.DestHTTP:
		var e webhook.Endpoint
		if err := json.Unmarshal(st.Target, &e); err != nil {
			return 0, fmt.Errorf("delivery stream %s: its endpoint: %w", st.Name, err)
		}
		for i, rec := range records {
			body, err := webhookBody(e, rec)
			if err != nil {
				return i, err
			}
			// The same id on every attempt at this record.
			sum := sha256.Sum256(append([]byte(st.ARN()+"\x00"), rec...))
			if err := s.webhooks.Post(ctx, e, hex.EncodeToString(sum[:16]), body); err != nil {
				return i, err
			}
		}
		return len(records), nil
	case subscriptions.DestRule:
		var t api.RuleTarget
		if err := json.Unmarshal(st.Target, &t); err != nil {
			return 0, fmt.Errorf("%s: its target: %w", st.Name, err)
		}
		for i, rec := range records {
			var p firehose.Payload
			if err := json.Unmarshal(rec, &p); err != nil {
				return i, err
			}
			for _, ev := range p.LogEvents {
				err := s.sendEvent(ctx, st, t, ev)
				if err != nil && (webhook.Refused(err) || snstopic.Refused(err) || refusedCommand(err)) {
					// Refused for good: to the dead letters, with why.
					err = s.deadLetter(ctx, st, ev, err)
				}
				if err != nil {
					return i, err
				}
			}
		}
		return len(records), nil
	case firehose.DestOpenSearch:
		var d searchindex.Destination
		if err := json.Unmarshal(st.Target, &d); err != nil {
			return 0, fmt.Errorf("delivery stream %s: its cluster: %w", st.Name, err)
		}
		return s.searchIndex.Send(ctx, d, records)
	}
	return 0, fmt.Errorf("delivery stream %s: destination %s is not one this server sends to", st.Name, st.Destination)
}

// DeadLetterGroup holds the events a rule's target refused for good, each
// with the rule, the target and why, one stream per rule.
const DeadLetterGroup = "/postern/events/dead-letter"

// deadLetter keeps an event a rule's target refused for good.
func (s *Server) deadLetter(ctx context.Context, st firehose.Stream, ev firehose.LogEvent, cause error) error {
	rule, target := subscriptions.RuleOf(st.Name)
	msg, err := json.Marshal(map[string]any{"rule": rule, "target": target, "reason": cause.Error(), "event": json.RawMessage(ev.Message)})
	if err != nil {
		return err
	}
	if err := s.ensureGroup(ctx, st.Account, DeadLetterGroup); err != nil {
		return err
	}
	s.logf("server: rule %s: target %s refused an event for good (%v); it is in %s", rule, target, cause, DeadLetterGroup)
	return s.cfg.LogStore.PutEvents(ctx, st.Account, DeadLetterGroup, rule, []logstore.Event{{Time: s.now(), Message: string(msg)}})
}

// sendEvent delivers one event to a rule's target.
func (s *Server) sendEvent(ctx context.Context, st firehose.Stream, t api.RuleTarget, ev firehose.LogEvent) error {
	rule, _ := subscriptions.RuleOf(st.Name)
	input := ev.Message
	if t.InputTransformer != nil {
		var err error
		if input, err = subscriptions.Transform([]byte(ev.Message), rule, t.InputTransformer); err != nil {
			return err
		}
	}
	switch {
	case t.Webhook != nil:
		e := webhook.Endpoint{URL: t.Webhook.URL, Secret: t.Webhook.Secret, CAPEM: t.Webhook.CAPEM, Format: t.Webhook.Format}
		body := []byte(input)
		if e.Format == webhook.FormatSlack {
			if t.InputTransformer == nil {
				input = eventSummary(ev.Message)
			}
			body, _ = json.Marshal(map[string]string{"text": input})
		}
		var id struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal([]byte(ev.Message), &id)
		return s.webhooks.Post(ctx, e, id.ID+"/"+t.ID, body)
	case t.SNSTopicARN != "":
		return s.sns.Publish(ctx, t.SNSTopicARN, "", input)
	case t.RunCommand != nil:
		if s.runCommand == nil {
			return errors.New("this server cannot run commands")
		}
		req := *t.RunCommand
		var id struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal([]byte(ev.Message), &id)
		req.Comment = firstRunes("rule "+rule+", event "+id.ID+" "+req.Comment, runcommand.MaxComment)
		_, err := s.runCommand.Send(ctx, st.Account, t.RunAs, req)
		return err
	}
	return fmt.Errorf("%s: a target with nowhere to go", st.Name)
}

// eventSummary is an event in one line, for a chat message.
func eventSummary(event string) string {
	var ev events.Event
	if json.Unmarshal([]byte(event), &ev) != nil {
		return event
	}
	return fmt.Sprintf("%s (%s) in account %s at %s: %s", ev.DetailType, ev.Source, ev.Account, ev.Time, ev.Detail)
}

// refusedCommand reports whether Run Command refused a rule's command
// for good: the rule's user may no longer send it, no node matches, the
// parameters are wrong.
func refusedCommand(err error) bool {
	var he *httpapi.Error
	return errors.As(err, &he) && he.Status >= 400 && he.Status < 500 && he.Status != http.StatusTooManyRequests
}

// firstRunes is s cut to n runes.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
