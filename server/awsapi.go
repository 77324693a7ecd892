package server

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/sigv4"
	"github.com/postern/postern/store"
)

// The AWS-compatible APIs: AWS JSON 1.1 on POST / (X-Amz-Target names the
// operation), authenticated by Signature Version 4 with access keys
// Postern issued (package sigv4), authorized by the same Cedar policies as
// the native API, answering in AWS's shapes, so that `aws ssm ...
// --endpoint-url https://SERVER` works against Postern.

// AWS's error codes that Postern answers with.
const (
	awsUnknownOperation   = "UnknownOperationException"
	awsValidation         = "ValidationException"
	awsSerialization      = "SerializationException"
	awsInternalError      = "InternalServerError"
	awsInvalidFilterKey   = "InvalidFilterKey"
	awsInvalidNextToken   = "InvalidNextToken"
	awsServiceUnavailable = "ServiceUnavailableException"
)

// maxAWSBody bounds an AWS API request's body, read before its signature
// can be checked: nothing an unauthenticated caller sends grows memory
// beyond it.
const maxAWSBody = 1 << 20

// awsService is a target prefix's service, as signatures scope it.
var awsServices = map[string]string{"AmazonSSM": "ssm", "Logs_20140328": "logs"}

type awsError struct {
	status int
	code   string
	msg    string
}

func (e *awsError) Error() string { return e.code + ": " + e.msg }

func awsErrorf(status int, code, format string, args ...any) *awsError {
	return &awsError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// handleAWS authenticates and dispatches one AWS JSON 1.1 request, or an
// STS query (awssts.go).
func (s *Server) handleAWS(w http.ResponseWriter, r *http.Request) {
	if isSTSRequest(r) {
		s.handleSTS(w, r)
		return
	}
	out, err := s.serveAWS(r)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		ae := s.awsErrorOf(r, err)
		w.WriteHeader(ae.status)
		json.NewEncoder(w).Encode(map[string]string{"__type": ae.code, "message": ae.msg})
		return
	}
	json.NewEncoder(w).Encode(out)
}

// newRequestID is the id of an answer, as AWS gives each.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// awsErrorOf is err in AWS's terms.
func (s *Server) awsErrorOf(r *http.Request, err error) *awsError {
	var ae *awsError
	var se *sigv4.Error
	var pe *apiError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &pe):
		// The native API's checks (authorization, what exists),
		// in AWS's words.
		code := pe.Code
		switch code {
		case api.CodeAccessDenied:
			code = "AccessDeniedException"
		case api.CodeValidationError:
			code = awsValidation
		}
		ae = &awsError{status: pe.Status, code: code, msg: pe.Msg}
		if pe.Status < 500 && pe.Status != http.StatusForbidden {
			ae.status = http.StatusBadRequest
		}
	case errors.As(err, &se):
		status := http.StatusBadRequest
		if se.Code == sigv4.CodeMissingAuthentication {
			status = http.StatusForbidden
		}
		ae = &awsError{status: status, code: se.Code, msg: se.Message}
	case errors.Is(err, store.ErrUnavailable):
		s.logf("server: AWS API %s: %v", r.Header.Get("X-Amz-Target"), err)
		ae = awsErrorf(http.StatusServiceUnavailable, awsServiceUnavailable, "the server's database does not answer; try again shortly")
	default:
		s.logf("server: AWS API %s: %v", r.Header.Get("X-Amz-Target"), err)
		ae = awsErrorf(http.StatusInternalServerError, awsInternalError, "internal error; see the server log")
	}
	return ae
}

func (s *Server) serveAWS(r *http.Request) (any, error) {
	prefix, op, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	service := awsServices[prefix]
	if ai := auditOf(r); ai != nil && ok && service != "" && awsOperations[prefix+"."+op] != nil {
		ai.action = "AWS " + prefix + "." + op // in the trail as the operation, not POST /
	}
	if !ok || service == "" {
		return nil, awsErrorf(http.StatusBadRequest, awsUnknownOperation, "X-Amz-Target %q names no operation this server offers (AmazonSSM.*)", clipTo(r.Header.Get("X-Amz-Target"), 100))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAWSBody+1))
	if err != nil {
		return nil, awsErrorf(http.StatusBadRequest, awsSerialization, "reading the request: %v", err)
	}
	if len(body) > maxAWSBody {
		return nil, awsErrorf(http.StatusRequestEntityTooLarge, awsSerialization, "the request's body is larger than %d bytes", maxAWSBody)
	}
	v, err := sigv4.Verify(r, body, s.now(), service, s.awsLookup(r))
	if err != nil {
		return nil, err
	}
	if err := checkSecurityTokenSigned(r, v.SignedHeaders); err != nil {
		return nil, err
	}
	// The operation is chosen by X-Amz-Target: it must be signed, or a
	// request signed for one operation could be replayed as another.
	if !slices.Contains(v.SignedHeaders, "x-amz-target") {
		return nil, &sigv4.Error{Code: sigv4.CodeIncompleteSignature, Message: "the X-Amz-Target header must be signed (SignedHeaders)"}
	}
	if err := s.refuseWhenFull(r); err != nil {
		return nil, err
	}
	s.guard().Authenticated(r, v.Principal) // the audit trail's actor, the connection's admission
	r, checked := httpapi.WithCaller(r, v.Principal)
	handle := awsOperations[prefix+"."+op]
	if handle == nil {
		return nil, awsErrorf(http.StatusBadRequest, awsUnknownOperation, "%s.%s is not an operation this server offers", prefix, clipTo(op, 100))
	}
	out, err := handle(s, r, body)
	if err == nil && !checked() {
		s.uncheckedRequests.Add(1)
		s.logf("server: BUG: AWS API %s.%s answered without an authorization check; refused", prefix, op)
		return nil, awsErrorf(http.StatusInternalServerError, awsInternalError, "internal error: the server did not check this request's authorization")
	}
	return out, err
}

// awsOperations are the AWS API's operations by X-Amz-Target. Each checks
// its request's authorization (s.authorize, or s.allowed for listings)
// before it answers: serveAWS refuses an answer that was not checked.
var awsOperations = map[string]func(s *Server, r *http.Request, body []byte) (any, error){
	"AmazonSSM.DescribeInstanceInformation": (*Server).awsDescribeInstanceInformation,
	"AmazonSSM.DescribeSessions":            (*Server).awsDescribeSessions,
	"AmazonSSM.TerminateSession":            (*Server).awsTerminateSession,
	"AmazonSSM.StartSession":                (*Server).awsStartSession,
	"AmazonSSM.ResumeSession":               (*Server).awsResumeSession,
	"AmazonSSM.GetConnectionStatus":         (*Server).awsGetConnectionStatus,
	"AmazonSSM.GetDocument":                 (*Server).awsGetDocument,
	"AmazonSSM.CreateDocument":              (*Server).awsCreateDocument,
	"AmazonSSM.UpdateDocument":              (*Server).awsUpdateDocument,
	"Logs_20140328.DescribeLogGroups":       (*Server).awsDescribeLogGroups,
	"Logs_20140328.DescribeLogStreams":      (*Server).awsDescribeLogStreams,
	"Logs_20140328.GetLogEvents":            (*Server).awsGetLogEvents,
	"Logs_20140328.FilterLogEvents":         (*Server).awsFilterLogEvents,
	"Logs_20140328.StartQuery":              (*Server).awsStartQuery,
	"Logs_20140328.CreateLogGroup":          (*Server).awsCreateLogGroup,
	"Logs_20140328.DeleteLogGroup":          (*Server).awsDeleteLogGroup,
	"Logs_20140328.PutRetentionPolicy":      (*Server).awsPutRetentionPolicy,
	"Logs_20140328.PutMetricFilter":         (*Server).awsPutMetricFilter,
	"Logs_20140328.DescribeMetricFilters":   (*Server).awsDescribeMetricFilters,
	"Logs_20140328.DeleteMetricFilter":      (*Server).awsDeleteMetricFilter,
	"Logs_20140328.GetQueryResults":         (*Server).awsGetQueryResults,
	"Logs_20140328.StopQuery":               (*Server).awsStopQuery,
}

// decodeAWS reads an operation's JSON input, refusing fields it does not
// know, as AWS's services refuse them.
func decodeAWS(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return awsErrorf(http.StatusBadRequest, awsSerialization, "the request is not the operation's JSON input: %v", err)
	}
	return nil
}

// ssmInstance is one entry of DescribeInstanceInformation, in
// Session Manager's words.
type ssmInstance struct {
	InstanceID       string  `json:"InstanceId"`
	PingStatus       string  `json:"PingStatus"`
	LastPingDateTime float64 `json:"LastPingDateTime,omitempty"`
	AgentVersion     string  `json:"AgentVersion,omitempty"`
	IsLatestVersion  bool    `json:"IsLatestVersion"`
	PlatformType     string  `json:"PlatformType,omitempty"`
	PlatformName     string  `json:"PlatformName,omitempty"`
	ActivationID     string  `json:"ActivationId,omitempty"`
	RegistrationDate float64 `json:"RegistrationDate,omitempty"`
	ResourceType     string  `json:"ResourceType"`
	Name             string  `json:"Name,omitempty"`
	IPAddress        string  `json:"IPAddress,omitempty"`
	ComputerName     string  `json:"ComputerName,omitempty"`
}

func (s *Server) awsDescribeInstanceInformation(r *http.Request, body []byte) (any, error) {
	c := callerOf(r)
	var in struct {
		Filters []struct {
			Key    string
			Values []string
		}
		MaxResults int
		NextToken  string
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if in.MaxResults != 0 && (in.MaxResults < 5 || in.MaxResults > 50) {
		return nil, awsErrorf(http.StatusBadRequest, awsValidation, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50", in.MaxResults)
	}
	max := in.MaxResults
	if max == 0 {
		max = 50
	}
	start, err := parseAWSToken("instances", in.NextToken)
	if err != nil {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidNextToken, "NextToken %q is not one this server gave", clipTo(in.NextToken, 64))
	}
	keep := func(ssmInstance) bool { return true }
	for _, f := range in.Filters {
		switch f.Key {
		case "InstanceIds":
			prev := keep
			keep = func(i ssmInstance) bool { return prev(i) && slices.Contains(f.Values, i.InstanceID) }
		case "PingStatus":
			prev := keep
			keep = func(i ssmInstance) bool { return prev(i) && slices.Contains(f.Values, i.PingStatus) }
		default:
			return nil, awsErrorf(http.StatusBadRequest, awsInvalidFilterKey, "filter key %q is not supported (InstanceIds, PingStatus)", clipTo(f.Key, 64))
		}
	}
	ns, err := s.store.ListNodes(r.Context(), c.Account)
	if err != nil {
		return nil, err
	}
	s.listing(r)
	elsewhere := s.linkedElsewhere(r.Context())
	var all []ssmInstance
	for _, n := range ns {
		if !s.allowed(r, authz.DescribeNodes, nodeEntity(n)) {
			continue
		}
		an := s.apiNode(n, elsewhere)
		i := ssmInstance{
			InstanceID: n.ID, PingStatus: an.PingStatus, AgentVersion: n.AgentVersion, PlatformType: platformType(n.OS),
			PlatformName: n.Platform, ActivationID: n.ActivationID, ResourceType: "ManagedInstance", Name: n.Name,
			IPAddress: n.IP, ComputerName: n.Hostname,
		}
		if !an.LastSeen.IsZero() {
			i.LastPingDateTime = float64(an.LastSeen.UnixMilli()) / 1000
		}
		if !n.RegisteredAt.IsZero() {
			i.RegistrationDate = float64(n.RegisteredAt.UnixMilli()) / 1000
		}
		if keep(i) {
			all = append(all, i)
		}
	}
	var out struct {
		InstanceInformationList []ssmInstance
		NextToken               string `json:",omitempty"`
	}
	out.InstanceInformationList, out.NextToken = awsPage(all, start, max, "instances")
	return out, nil
}

// platformType is Session Manager's name for a node's OS family.
func platformType(os string) string {
	switch os {
	case "linux":
		return "Linux"
	case "windows":
		return "Windows"
	case "darwin":
		return "MacOS"
	}
	return os
}
