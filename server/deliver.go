package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/delivery"
	"github.com/postern/postern/document"
	"github.com/postern/postern/orgs"
	"github.com/postern/postern/store"
)

// The destinations' types are package delivery's, under the names the
// server's configuration has always used.
type (
	S3Target              = delivery.S3Target
	S3Destination         = delivery.S3Destination
	CloudWatchTarget      = delivery.CloudWatchTarget
	CloudWatchDestination = delivery.CloudWatchDestination
	StreamEvent           = delivery.StreamEvent
)

// checkTimeout bounds a destination check at session start, so a
// destination that hangs refuses the session instead of hanging it. A
// variable so tests can shorten it.
var checkTimeout = 15 * time.Second

// plannedDelivery is a destination a session start resolved to.
type plannedDelivery struct {
	destination string   // "s3", "cloudwatch"
	target      any      // S3Target, CloudWatchTarget
	artifacts   []string // what goes there: log, cast
}

// s3TargetFor is where the preferences in send artifacts in S3.
func s3TargetFor(in document.Inputs, clientSide bool) S3Target {
	t := S3Target{Bucket: in.S3BucketName, Prefix: in.S3KeyPrefix, RequireEncryption: in.S3EncryptionEnabled, ClientSide: clientSide}
	if strings.HasPrefix(in.KMSKeyID, "arn:aws:kms:") {
		t.KMSKeyID = in.KMSKeyID
	}
	return t
}

// planDeliveries turns the preferences' logging inputs into deliveries and
// checks each destination now: a session whose recording could not be
// delivered where the preferences say is refused before it starts, with
// the reason (Session Manager would find out at the end, if at all).
//
// A desktop session's artifacts are its recording and the recording's
// metadata (desktopArtifacts) instead of a transcript and a cast, and it
// streams no events to the log store: it has no terminal output.
func (s *Server) planDeliveries(ctx context.Context, account string, in document.Inputs, desktop bool) ([]plannedDelivery, error) {
	files := []string{"log", "cast"}
	if desktop {
		files = desktopArtifacts
	}
	var plan []plannedDelivery
	if s.cfg.LogStore != nil {
		// Before the checks: preferences may name it. A log store that
		// cannot take it now must not stop sessions: the recording is
		// the journal, and the stream tries again when it delivers.
		if err := s.ensureOwnLogGroup(ctx, account); err != nil {
			s.logf("server: log store: creating %s for account %s: %v; its sessions are indexed once it can be", OwnLogGroup, account, err)
		}
	}
	if in.S3BucketName != "" || in.CloudWatchLogGroupName != "" {
		// First, as it is local and cheap: a full outbox could not promise
		// this session's recording a delivery either.
		if err := s.outbox.admit(ctx); err != nil {
			return nil, err
		}
	}
	if in.S3BucketName != "" {
		if s.cfg.S3 == nil {
			return nil, errorf(http.StatusConflict, api.CodeDestinationUnavailable,
				"we couldn't start the session because the preferences send session logs to S3 bucket %s, but this server has no S3 destination configured", in.S3BucketName)
		}
		t := s3TargetFor(in, s.cfg.S3ClientSideEncryption)
		if err := check(ctx, func(ctx context.Context) error { return s.cfg.S3.Check(ctx, t) }); err != nil {
			return nil, err
		}
		plan = append(plan, plannedDelivery{destination: "s3", target: t, artifacts: files})
	}
	if in.CloudWatchLogGroupName != "" {
		// CloudWatch Logs when configured, else Postern's own log groups.
		name := "cloudwatch"
		if s.cfg.CloudWatch == nil && s.cfg.LogStore != nil {
			name = "logs"
		}
		dest, err := s.logDestination(name)
		if err != nil {
			return nil, errorf(http.StatusConflict, api.CodeDestinationUnavailable,
				"we couldn't start the session because the preferences send session logs to log group %s, but %v", in.CloudWatchLogGroupName, err)
		}
		t := CloudWatchTarget{Account: account, LogGroup: in.CloudWatchLogGroupName, RequireEncryption: in.CloudWatchEncryptionEnabled, Streaming: in.CloudWatchStreamingEnabled}
		if err := check(ctx, func(ctx context.Context) error { return dest.Check(ctx, t) }); err != nil {
			return nil, err
		}
		// Streamed: Session Manager's JSON events as the session runs,
		// instead of the transcript at the end.
		artifact := "log"
		if t.Streaming {
			artifact = "events"
		}
		plan = append(plan, plannedDelivery{destination: name, target: t, artifacts: []string{artifact}})
	}
	if s.cfg.LogStore != nil && !desktop {
		// Every session streams to Postern's own log store, whatever
		// the preferences say, so that it can be tailed and searched.
		// Preferences that name that very group get its stream (two
		// deliveries to one stream would overwrite each other).
		if len(plan) > 0 && plan[len(plan)-1].destination == "logs" && in.CloudWatchLogGroupName == OwnLogGroup {
			plan = plan[:len(plan)-1]
		}
		t := CloudWatchTarget{Account: account, LogGroup: OwnLogGroup, Streaming: true}
		plan = append(plan, plannedDelivery{destination: ownLogs, target: t, artifacts: []string{"events"}})
	}
	// The organization's archive gets a copy, whatever the preferences
	// say, and is not checked now: an archive that is down delays its
	// copies (they wait in the outbox), never the account's sessions.
	a, org, err := orgs.ArchiveFor(ctx, s.store, s.store.GetOrganization, account)
	if err != nil {
		return nil, err
	}
	if a != nil {
		plan = append(plan, plannedDelivery{destination: delivery.ArchiveDestination, target: a.Target(org), artifacts: files})
	}
	return plan, nil
}

// check runs a destination check within checkTimeout.
func check(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		return errorf(http.StatusConflict, api.CodeDestinationCheckFailed, "%v", err)
	}
	return nil
}

// createDeliveries records a new session's deliveries; they wait until the
// session ends.
func (s *Server) createDeliveries(ctx context.Context, sess store.Session, plan []plannedDelivery) error {
	var ds []store.Delivery
	for _, p := range plan {
		target, err := json.Marshal(p.target)
		if err != nil {
			return err
		}
		for _, a := range p.artifacts {
			d := store.Delivery{
				Account: sess.Account, SessionID: sess.ID, Destination: p.destination, Artifact: a,
				Target: string(target), Status: store.DeliveryWaiting, CreatedAt: sess.StartedAt, UpdatedAt: sess.StartedAt,
			}
			if a == "events" {
				// Streamed from the start.
				d.Status, d.NextAttempt = store.DeliveryPending, sess.StartedAt
			}
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	if err := s.store.CreateDeliveries(ctx, ds); err != nil {
		return err
	}
	s.outbox.changed()
	s.deliver.Kick()
	return nil
}

// deliveryDeps gives the server's deliverer what it works with.
func (s *Server) deliveryDeps() delivery.Deps {
	return delivery.Deps{
		Store: s.store, Now: s.now, Logf: s.logf, S3: s.cfg.S3,
		LogDestination: s.logDestination, EnsureOwnLogGroup: s.ensureOwnLogGroup,
		JournalPath: s.journalPath, JournalKey: s.journalKey, FetchJournal: s.fetchJournal,
		EnvelopeWriter: s.envelopeWriter, ArchiveEnvelope: s.archiveEnvelope,
		SessionEnded: s.sessionEnded, OutputSoFar: s.outputSoFar,
		Commands: func(dl store.Delivery, cmds []string) {
			// Once per command: from the stream every session has.
			if dl.Destination == ownLogs {
				s.commandEvents(s.ctx, dl, cmds)
			}
		},
		Changed: func() { s.outbox.changed() },
		Delivered: func(destination, artifact, result string) {
			s.metrics.deliveries.WithLabelValues(destination, artifact, result).Inc()
		},
		Streamed: func(destination string, latency time.Duration) {
			s.metrics.streamLatency.WithLabelValues(destination).Observe(latency.Seconds())
		},
		NodeName: func(ctx context.Context, id string) string {
			n, err := s.store.GetNode(ctx, id)
			if err != nil {
				return ""
			}
			return n.Name
		},
	}
}

// apiDeliveries adds a session's deliveries to its log locations.
func (s *Server) apiDeliveries(ctx context.Context, sess store.Session, out *api.Session) {
	ds, err := s.store.ListDeliveries(ctx, sess.Account, sess.ID)
	if err != nil {
		s.logf("server: session %s: %v", out.ID, err)
		return
	}
	for _, d := range ds {
		l := api.LogLocation{Destination: d.Destination, Format: d.Artifact, Location: d.Location, Status: d.Status,
			Attempts: d.Attempts, Error: d.LastError, Bytes: d.Bytes}
		if d.Artifact == "events" && d.Status == store.DeliveryPending && sess.Active() {
			l.Status = "Streaming"
		}
		if !d.NextAttempt.IsZero() && d.Status != store.DeliveryDelivered && d.Status != store.DeliveryWaiting {
			t := d.NextAttempt
			l.NextAttempt = &t
		}
		if l.Location == "" {
			l.Location = describeTarget(d)
		}
		out.Logs = append(out.Logs, l)
	}
}

// describeTarget says where an undelivered artifact is going.
func describeTarget(d store.Delivery) string {
	if d.Destination == "cloudwatch" || d.Destination == "logs" || d.Destination == ownLogs {
		if t, err := delivery.LogTarget(d); err == nil {
			return delivery.LogLocation(d, t)
		}
	}
	if d.Destination == delivery.ArchiveDestination {
		var t delivery.ArchiveTarget
		if json.Unmarshal([]byte(d.Target), &t) == nil {
			return "s3://" + t.Bucket + "/" + t.ObjectPrefix(d.Account, d.CreatedAt) + "/" + d.SessionID + "." + d.Artifact
		}
	}
	if d.Destination == "s3" {
		var t S3Target
		if json.Unmarshal([]byte(d.Target), &t) == nil {
			key := d.SessionID + "." + d.Artifact
			if t.Prefix != "" {
				key = t.Prefix + "/" + key
			}
			return "s3://" + t.Bucket + "/" + key
		}
	}
	return d.Destination
}

// logDestination is the log-group destination a delivery names:
// "cloudwatch" (CloudWatch Logs) or "logs" (the built-in log store).
func (s *Server) logDestination(name string) (CloudWatchDestination, error) {
	switch name {
	case "cloudwatch":
		if s.cfg.CloudWatch == nil {
			return nil, errors.New("this server has no CloudWatch Logs destination configured")
		}
		return s.cfg.CloudWatch, nil
	case "logs", ownLogs:
		if s.cfg.LogStore == nil {
			return nil, errors.New("this server has no built-in log store")
		}
		return builtinLogs{s.cfg.LogStore, s}, nil
	}
	return nil, fmt.Errorf("unknown log destination %q", name)
}
