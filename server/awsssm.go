package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/store"
)

// Session Manager's API (AmazonSSM) on Postern's sessions, nodes and
// documents.

// awsInvalidDocument is SSM's error for a document that does not exist.
const awsInvalidDocument = "InvalidDocument"

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

type ssmSession struct {
	SessionID    string  `json:"SessionId"`
	Target       string  `json:"Target"`
	Status       string  `json:"Status"`
	StartDate    float64 `json:"StartDate,omitempty"`
	EndDate      float64 `json:"EndDate,omitempty"`
	DocumentName string  `json:"DocumentName,omitempty"`
	Owner        string  `json:"Owner,omitempty"`
	Reason       string  `json:"Reason,omitempty"`
	Details      string  `json:"Details,omitempty"`
}

func (s *Server) awsDescribeSessions(r *http.Request, body []byte) (any, error) {
	var in struct {
		State      string
		MaxResults int
		NextToken  string
		Filters    []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	c := callerOf(r)
	f := store.SessionFilter{Account: c.Account}
	switch in.State {
	case "Active":
		t := true
		f.Active = &t
	case "History":
		t := false
		f.Active = &t
	default:
		return nil, awsErrorf(http.StatusBadRequest, awsValidation, "1 validation error detected: Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]", clipTo(in.State, 32))
	}
	max := in.MaxResults
	switch {
	case max == 0:
		max = 20
	case max < 1 || max > 200:
		return nil, awsErrorf(http.StatusBadRequest, awsValidation, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 200", max)
	}
	start, err := parseAWSToken("sessions", in.NextToken)
	if err != nil {
		return nil, err
	}
	var after, before time.Time
	var status, id string
	for _, fl := range in.Filters {
		switch fl.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339, fl.Value)
			if err != nil {
				return nil, awsErrorf(http.StatusBadRequest, awsValidation, "filter %s: %q is not a time such as 2026-12-06T00:00:00Z", fl.Key, clipTo(fl.Value, 64))
			}
			if fl.Key == "InvokedAfter" {
				after, f.Since = t, t
			} else {
				before = t
			}
		case "Target":
			f.Target = fl.Value
		case "Owner":
			// A user's name, or their ARN in this account.
			f.Owner = strings.TrimPrefix(fl.Value, strings.TrimSuffix(ids.UserARN(c.Account, "x"), "x"))
		case "Status":
			status = fl.Value
		case "SessionId":
			id = fl.Value
		default:
			return nil, awsErrorf(http.StatusBadRequest, awsValidation, "filter key %q is not one of InvokedAfter, InvokedBefore, Target, Owner, Status, SessionId", clipTo(fl.Key, 64))
		}
	}
	ss, err := s.store.ListSessions(r.Context(), f)
	if err != nil {
		return nil, err
	}
	s.listing(r)
	nodes := map[string]store.Node{}
	var matched []ssmSession
	for _, sess := range ss {
		if rl := s.relays.Get(sess.ID); rl != nil {
			sess = rl.Session()
		}
		if (!after.IsZero() && sess.StartedAt.Before(after)) || (!before.IsZero() && !sess.StartedAt.Before(before)) ||
			(status != "" && sess.Status != status) || (id != "" && sess.ID != id) {
			continue
		}
		if e, opts := s.sessionEntity(r.Context(), sess, nodes); !s.allowed(r, authz.DescribeSessions, e, opts...) {
			continue
		}
		o := ssmSession{SessionID: sess.ID, Target: sess.Target, Status: sess.Status, StartDate: epoch(sess.StartedAt),
			DocumentName: sess.Document, Owner: ids.UserARN(sess.Account, sess.Owner), Reason: sess.Reason, Details: sess.StatusReason}
		if !sess.EndedAt.IsZero() {
			o.EndDate = epoch(sess.EndedAt)
		}
		matched = append(matched, o)
	}
	var out struct {
		Sessions  []ssmSession `json:"Sessions"`
		NextToken string       `json:"NextToken,omitempty"`
	}
	out.Sessions, out.NextToken = awsPage(matched, start, max, "sessions")
	return out, nil
}

func (s *Server) awsTerminateSession(r *http.Request, body []byte) (any, error) {
	var in struct{ SessionId string }
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	sess, err := s.session(r, authz.TerminateSession, in.SessionId)
	if err != nil {
		return nil, err
	}
	// As in Session Manager, terminating an ended session is not an
	// error: it is terminated. A running one not taken up here yet is not
	// said to be.
	if sess.Active() {
		rl := s.relays.Get(sess.ID)
		if rl == nil {
			return nil, awsErrorf(http.StatusServiceUnavailable, awsServiceUnavailable, "session %s is running but this server has not taken it up yet (its recording is on its way from object storage): try again shortly", sess.ID)
		}
		rl.Terminate("TerminatedByUser")
	}
	return map[string]string{"SessionId": sess.ID}, nil
}

func (s *Server) awsGetConnectionStatus(r *http.Request, body []byte) (any, error) {
	var in struct{ Target string }
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	n, err := s.resolveNode(r.Context(), callerOf(r).Account, in.Target)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(r, authz.DescribeNodes, nodeEntity(n)); err != nil {
		return nil, err
	}
	status := "notconnected"
	if s.NodeOnline(n.ID) || s.linkedElsewhere(r.Context())(n.ID) {
		status = "connected"
	}
	return map[string]string{"Target": in.Target, "Status": status}, nil
}

func (s *Server) awsGetDocument(r *http.Request, body []byte) (any, error) {
	var in struct {
		Name            string
		DocumentVersion string
		VersionName     string
		DocumentFormat  string
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if in.DocumentFormat != "" && in.DocumentFormat != "JSON" {
		return nil, awsErrorf(http.StatusBadRequest, "InvalidDocumentType", "documentFormat %q: this server keeps documents as JSON", clipTo(in.DocumentFormat, 16))
	}
	version := 0
	if v := in.DocumentVersion; v != "" && v != "$LATEST" && v != "$DEFAULT" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, awsErrorf(http.StatusBadRequest, "InvalidDocumentVersion", "document version %q is not a number, $LATEST or $DEFAULT", clipTo(v, 32))
		}
		version = n
	}
	d, err := s.getDocument(r, in.Name, version)
	if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Code == api.CodeInvalidDocument {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidDocument, "%s", ae.Msg)
	}
	if err != nil {
		return nil, err
	}
	docType := "Session"
	if d.DocumentType != "" {
		docType = d.DocumentType
	}
	out := map[string]any{
		"Name": in.Name, "DocumentVersion": strconv.Itoa(d.Version), "Status": "Active", "Content": d.Content,
		"DocumentType": docType, "DocumentFormat": "JSON",
	}
	if d.CreatedAt != nil {
		out["CreatedDate"] = epoch(*d.CreatedAt)
	}
	return out, nil
}

// ssmDocumentDescription is CreateDocument's and UpdateDocument's answer.
func ssmDocumentDescription(name string, d store.Document) map[string]any {
	v := strconv.Itoa(d.Version)
	return map[string]any{"DocumentDescription": map[string]any{
		"Name": name, "DocumentVersion": v, "LatestVersion": v, "DefaultVersion": v, "Status": "Active",
		"DocumentType": "Session", "DocumentFormat": "JSON", "CreatedDate": epoch(d.CreatedAt), "Description": d.Description,
	}}
}

// awsDocumentInput is CreateDocument's and UpdateDocument's input.
type awsDocumentInput struct {
	Name            string
	Content         string
	DocumentType    string
	DocumentFormat  string
	DocumentVersion string
	TargetType      string
	VersionName     string
}

func (in awsDocumentInput) check() error {
	if in.DocumentType != "" && in.DocumentType != "Session" {
		return awsErrorf(http.StatusBadRequest, "InvalidDocumentType", "documentType %q: this server keeps Session documents", clipTo(in.DocumentType, 32))
	}
	if in.DocumentFormat != "" && in.DocumentFormat != "JSON" && in.DocumentFormat != "YAML" {
		return awsErrorf(http.StatusBadRequest, "InvalidDocumentSchemaVersion", "documentFormat %q must be JSON or YAML", clipTo(in.DocumentFormat, 16))
	}
	return nil
}

func (s *Server) awsCreateDocument(r *http.Request, body []byte) (any, error) {
	var in awsDocumentInput
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	d, err := s.putDocument(r, in.Name, in.Content, func(latest store.Document) error {
		if _, builtin := document.Builtin(document.PosternName(in.Name)); latest.Version > 0 || builtin {
			return awsErrorf(http.StatusBadRequest, "DocumentAlreadyExists", "document %s already exists: update it (UpdateDocument)", clipTo(in.Name, 128))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ssmDocumentDescription(in.Name, d), nil
}

// awsUpdateDocument stores a new version of a document; the preferences
// document (SSM-SessionManagerRunShell) is the account's preferences,
// as Session Manager updates them.
func (s *Server) awsUpdateDocument(r *http.Request, body []byte) (any, error) {
	var in awsDocumentInput
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	check := func(latest store.Document) error {
		if latest.Version == 0 {
			return awsErrorf(http.StatusBadRequest, awsInvalidDocument, "document %s does not exist (or is built in): create it (CreateDocument)", clipTo(in.Name, 128))
		}
		if v := in.DocumentVersion; v != "" && v != "$LATEST" && v != strconv.Itoa(latest.Version) {
			return awsErrorf(http.StatusBadRequest, "InvalidDocumentVersion", "document version %q is not the latest (%d) or $LATEST", clipTo(v, 32), latest.Version)
		}
		if latest.Content == in.Content {
			return awsErrorf(http.StatusBadRequest, "DuplicateDocumentContent", "the content is that of version %d already", latest.Version)
		}
		return nil
	}
	if document.PosternName(in.Name) == DefaultDocument {
		c := callerOf(r)
		if err := s.authorize(r, authz.UpdatePreferences, authz.Named("Document", c.Account, DefaultDocument)); err != nil {
			return nil, err
		}
		latest, err := s.store.GetDocument(r.Context(), c.Account, DefaultDocument, 0)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if v := in.DocumentVersion; latest.Version > 0 && v != "" && v != "$LATEST" && v != strconv.Itoa(latest.Version) {
			return nil, awsErrorf(http.StatusBadRequest, "InvalidDocumentVersion", "document version %q is not the latest (%d) or $LATEST", clipTo(v, 32), latest.Version)
		}
		d, err := s.putPreferences(r, in.Content)
		if err != nil {
			return nil, err
		}
		return ssmDocumentDescription(in.Name, d), nil
	}
	d, err := s.putDocument(r, in.Name, in.Content, check)
	if err != nil {
		return nil, err
	}
	return ssmDocumentDescription(in.Name, d), nil
}
