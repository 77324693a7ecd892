package server

import (
	"cmp"
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/filterpattern"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/logstore"
)

// CloudWatch Logs' API (Logs_20140328) on the built-in log groups, so
// that `aws logs describe-log-groups`, `get-log-events` and
// `filter-log-events` read them as they read CloudWatch Logs.

const awsResourceNotFound = "ResourceNotFoundException"

// awsToken is a pagination token: the position after which the next
// page starts (an event's ID, which only grows, so a token never repeats
// or skips an event; or an index in a name-ordered list), with the kind
// of list it is for.
func awsToken(kind string, pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "/" + strconv.FormatInt(pos, 10)))
}

func parseAWSToken(kind, tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	k, v, ok := strings.Cut(string(b), "/")
	n, err2 := strconv.ParseInt(v, 10, 64)
	if err != nil || !ok || k != kind || err2 != nil || n < 0 {
		return 0, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "The specified nextToken is invalid: %q is not a token this server gave for this call", clipTo(tok, 64))
	}
	return n, nil
}

const awsInvalidParameter = "InvalidParameterException"

// awsPage is the page of items from start (the position a token gave)
// at most limit long, and the token of the page after it, if any.
func awsPage[T any](items []T, start int64, limit int, kind string) ([]T, string) {
	if start >= int64(len(items)) {
		return []T{}, ""
	}
	end := min(int(start)+limit, len(items))
	if end < len(items) {
		return items[start:end], awsToken(kind, int64(end))
	}
	return items[start:end], ""
}

func awsLimit(n, max, def int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 1 || n > max:
		return 0, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", n, max)
	}
	return n, nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.UnixMilli(*v)
}

// awsLogStore is the built-in log store, or AWS's error for its absence.
func (s *Server) awsLogStore() (LogStore, error) {
	if s.cfg.LogStore == nil {
		return nil, awsErrorf(http.StatusBadRequest, awsResourceNotFound, "this server keeps no log groups (no built-in log store)")
	}
	return s.cfg.LogStore, nil
}

func (s *Server) awsDescribeLogGroups(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupNamePrefix string `json:"logGroupNamePrefix"`
		Limit              int    `json:"limit"`
		NextToken          string `json:"nextToken"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	limit, err := awsLimit(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	start, err := parseAWSToken("groups", in.NextToken)
	if err != nil {
		return nil, err
	}
	ls, err := s.awsLogStore()
	if err != nil {
		return nil, err
	}
	c := callerOf(r)
	gs, err := ls.Groups(r.Context(), c.Account)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(gs, func(a, b logstore.Group) int { return strings.Compare(a.Name, b.Name) })
	s.listing(r)
	type group struct {
		LogGroupName    string `json:"logGroupName"`
		Arn             string `json:"arn"`
		CreationTime    int64  `json:"creationTime"`
		RetentionInDays int    `json:"retentionInDays,omitempty"`
		StoredBytes     int64  `json:"storedBytes"`
		KmsKeyID        string `json:"kmsKeyId,omitempty"`
	}
	var matched []group
	for _, g := range gs {
		if strings.HasPrefix(g.Name, in.LogGroupNamePrefix) && s.allowed(r, authz.DescribeLogGroups, logGroupEntity(g.Account, g.Name)) {
			matched = append(matched, group{LogGroupName: g.Name, Arn: ids.ARN("logs", g.Account, "log-group", g.Name) + ":*",
				CreationTime: ms(g.CreatedAt), RetentionInDays: g.RetentionDays, StoredBytes: g.StoredBytes, KmsKeyID: g.KMSKeyID})
		}
	}
	var out struct {
		LogGroups []group `json:"logGroups"`
		NextToken string  `json:"nextToken,omitempty"`
	}
	out.LogGroups, out.NextToken = awsPage(matched, start, limit, "groups")
	return out, nil
}

func (s *Server) awsDescribeLogStreams(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName        string `json:"logGroupName"`
		LogGroupIdentifier  string `json:"logGroupIdentifier"`
		LogStreamNamePrefix string `json:"logStreamNamePrefix"`
		OrderBy             string `json:"orderBy"`
		Descending          bool   `json:"descending"`
		Limit               int    `json:"limit"`
		NextToken           string `json:"nextToken"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	name := cmp.Or(in.LogGroupName, in.LogGroupIdentifier)
	limit, err := awsLimit(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	start, err := parseAWSToken("streams", in.NextToken)
	if err != nil {
		return nil, err
	}
	if in.OrderBy != "" && in.OrderBy != "LogStreamName" && in.OrderBy != "LastEventTime" {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "orderBy: %q must be LogStreamName or LastEventTime", clipTo(in.OrderBy, 64))
	}
	ls, err := s.awsLogStore()
	if err != nil {
		return nil, err
	}
	if err := s.authorize(r, authz.DescribeLogStreams, logGroupEntity(callerOf(r).Account, name)); err != nil {
		return nil, err
	}
	streams, err := ls.Streams(r.Context(), callerOf(r).Account, name)
	if err != nil {
		return nil, awsLogError(err, name)
	}
	var matched []logstore.Stream
	for _, st := range streams {
		if strings.HasPrefix(st.Name, in.LogStreamNamePrefix) {
			matched = append(matched, st)
		}
	}
	slices.SortStableFunc(matched, func(a, b logstore.Stream) int {
		if in.OrderBy == "LastEventTime" {
			return a.LastEvent.Compare(b.LastEvent)
		}
		return strings.Compare(a.Name, b.Name)
	})
	if in.Descending {
		slices.Reverse(matched)
	}
	type stream struct {
		LogStreamName       string `json:"logStreamName"`
		Arn                 string `json:"arn"`
		CreationTime        int64  `json:"creationTime,omitempty"`
		FirstEventTimestamp int64  `json:"firstEventTimestamp,omitempty"`
		LastEventTimestamp  int64  `json:"lastEventTimestamp,omitempty"`
		LastIngestionTime   int64  `json:"lastIngestionTime,omitempty"`
		StoredBytes         int64  `json:"storedBytes"`
	}
	rows := make([]stream, len(matched))
	for i, st := range matched {
		rows[i] = stream{LogStreamName: st.Name,
			Arn:          ids.ARN("logs", callerOf(r).Account, "log-group", name) + ":log-stream:" + st.Name,
			CreationTime: ms(st.FirstEvent), FirstEventTimestamp: ms(st.FirstEvent), LastEventTimestamp: ms(st.LastEvent),
			LastIngestionTime: ms(st.LastIngested), StoredBytes: st.StoredBytes}
	}
	var out struct {
		LogStreams []stream `json:"logStreams"`
		NextToken  string   `json:"nextToken,omitempty"`
	}
	out.LogStreams, out.NextToken = awsPage(rows, start, limit, "streams")
	return out, nil
}

// awsLogError is a log store's error in AWS's words.
func awsLogError(err error, group string) error {
	switch {
	case errors.Is(err, logstore.ErrNotFound):
		return awsErrorf(http.StatusBadRequest, awsResourceNotFound, "The specified log group does not exist: %s", clipTo(group, 512))
	case errors.Is(err, logstore.ErrInvalid):
		return awsErrorf(http.StatusBadRequest, awsInvalidParameter, "%v", err)
	}
	return err
}

type awsLogEvent struct {
	LogStreamName string `json:"logStreamName,omitempty"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId,omitempty"`
}

// awsMaxEvents bounds a page of events, as CloudWatch Logs does;
// maxScan the events one call reads to fill it.
const (
	awsMaxEvents = 10000
	maxScan      = 200000
)

func (s *Server) awsGetLogEvents(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName       string `json:"logGroupName"`
		LogGroupIdentifier string `json:"logGroupIdentifier"`
		LogStreamName      string `json:"logStreamName"`
		StartTime          *int64 `json:"startTime"`
		EndTime            *int64 `json:"endTime"`
		NextToken          string `json:"nextToken"`
		Limit              int    `json:"limit"`
		StartFromHead      *bool  `json:"startFromHead"`
		Unmask             bool   `json:"unmask"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	name := cmp.Or(in.LogGroupName, in.LogGroupIdentifier)
	limit, err := awsLimit(in.Limit, awsMaxEvents, awsMaxEvents)
	if err != nil {
		return nil, err
	}
	// As CloudWatch Logs pages: from the oldest event on with
	// startFromHead, else back from the newest; a forward token ("f")
	// reads the events after its position, a backward one ("b") those
	// before it, and each page is in the order of the events.
	backward := strings.HasPrefix(in.NextToken, "b")
	pos, err := parseAWSToken("f", strings.TrimPrefix(in.NextToken, "b"))
	if err != nil {
		return nil, err
	}
	if in.NextToken == "" && (in.StartFromHead == nil || !*in.StartFromHead) {
		backward, pos = true, math.MaxInt64
	}
	ls, err := s.awsLogStore()
	if err != nil {
		return nil, err
	}
	if err := s.mayReadGroup(r, ls, authz.GetLogEvents, name); err != nil {
		return nil, err
	}
	since, until := fromMS(in.StartTime), fromMS(in.EndTime)
	out := struct {
		Events            []awsLogEvent `json:"events"`
		NextForwardToken  string        `json:"nextForwardToken"`
		NextBackwardToken string        `json:"nextBackwardToken"`
	}{Events: []awsLogEvent{}}
	take := func(e logstore.Event) {
		if (!since.IsZero() && e.Time.Before(since)) || (!until.IsZero() && !e.Time.Before(until)) {
			return
		}
		out.Events = append(out.Events, awsLogEvent{Timestamp: ms(e.Time), Message: e.Message, IngestionTime: ms(e.Ingested)})
	}
	// first and last are the lowest and highest positions read; at the
	// end a token stays where it is: the CLI stops when a token comes
	// back unchanged, and a later call sees what came since.
	var first, last int64
	if backward {
		first, last = pos, 0
		for scanned := 0; len(out.Events) < limit && scanned < maxScan; {
			evs, err := ls.EventsBefore(r.Context(), callerOf(r).Account, name, in.LogStreamName, first, limit-len(out.Events))
			if err != nil {
				return nil, awsLogError(err, name)
			}
			if len(evs) == 0 {
				break
			}
			scanned += len(evs)
			last = max(last, evs[len(evs)-1].ID)
			first = evs[0].ID
			for _, e := range slices.Backward(evs) {
				take(e)
			}
		}
		slices.Reverse(out.Events)
		if last == 0 && pos != math.MaxInt64 {
			last = pos - 1 // nothing before pos: what follows it comes next
		}
	} else {
		first, last = pos+1, pos
		for scanned := 0; len(out.Events) < limit && scanned < maxScan; {
			evs, err := ls.Events(r.Context(), callerOf(r).Account, name, in.LogStreamName, last, limit-len(out.Events))
			if err != nil {
				return nil, awsLogError(err, name)
			}
			if len(evs) == 0 {
				break
			}
			scanned += len(evs)
			for _, e := range evs {
				last = e.ID
				take(e)
			}
		}
	}
	out.NextForwardToken = awsToken("f", last)
	out.NextBackwardToken = "b" + awsToken("f", first)
	return out, nil
}

func (s *Server) awsFilterLogEvents(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName        string   `json:"logGroupName"`
		LogGroupIdentifier  string   `json:"logGroupIdentifier"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       string   `json:"filterPattern"`
		NextToken           string   `json:"nextToken"`
		Limit               int      `json:"limit"`
		Interleaved         bool     `json:"interleaved"`
		Unmask              bool     `json:"unmask"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	name := cmp.Or(in.LogGroupName, in.LogGroupIdentifier)
	limit, err := awsLimit(in.Limit, awsMaxEvents, awsMaxEvents)
	if err != nil {
		return nil, err
	}
	after, err := parseAWSToken("filter", in.NextToken)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "logStreamNames and logStreamNamePrefix are mutually exclusive")
	}
	var pat *filterpattern.Pattern
	if in.FilterPattern != "" {
		if pat, err = filterpattern.Parse(in.FilterPattern); err != nil {
			return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "Invalid filter pattern: %v", err)
		}
	}
	ls, err := s.awsLogStore()
	if err != nil {
		return nil, err
	}
	if err := s.mayReadGroup(r, ls, authz.GetLogEvents, name); err != nil {
		return nil, err
	}
	rd := ls.ReadGroup(r.Context(), callerOf(r).Account, name, logstore.ReadOptions{After: after, Since: fromMS(in.StartTime), Until: fromMS(in.EndTime)})
	defer rd.Close()
	out := struct {
		Events             []awsLogEvent `json:"events"`
		SearchedLogStreams []any         `json:"searchedLogStreams"`
		NextToken          string        `json:"nextToken,omitempty"`
	}{Events: []awsLogEvent{}, SearchedLogStreams: []any{}}
	// A page ends at limit events, or after a bounded read (maxScan), so
	// that a filter that matches little does not hold the server: the
	// token then goes on from the last event read.
	scanned, last := 0, after
	for len(out.Events) < limit && scanned < maxScan {
		e, ok := rd.Next()
		if !ok {
			break
		}
		scanned++
		last = e.ID
		if len(in.LogStreamNames) > 0 && !slices.Contains(in.LogStreamNames, e.Stream) || !strings.HasPrefix(e.Stream, in.LogStreamNamePrefix) {
			continue
		}
		if pat != nil && !pat.Match(e.Message) {
			continue
		}
		out.Events = append(out.Events, awsLogEvent{LogStreamName: e.Stream, Timestamp: ms(e.Time), Message: e.Message, IngestionTime: ms(e.Ingested), EventID: strconv.FormatInt(e.ID, 10)})
	}
	if err := rd.Err(); err != nil {
		return nil, awsLogError(err, name)
	}
	if len(out.Events) == limit || scanned == maxScan {
		out.NextToken = awsToken("filter", last)
	}
	return out, nil
}

func (s *Server) awsCreateLogGroup(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName string            `json:"logGroupName"`
		KmsKeyID     string            `json:"kmsKeyId"`
		Tags         map[string]string `json:"tags"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "tags: this server's log groups take no tags")
	}
	_, err := s.createLogGroup(r, api.CreateLogGroupRequest{Name: in.LogGroupName, KMSKeyID: in.KmsKeyID})
	return struct{}{}, err
}

func (s *Server) awsDeleteLogGroup(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName string `json:"logGroupName"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, s.deleteLogGroup(r, in.LogGroupName)
}

func (s *Server) awsPutRetentionPolicy(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName    string `json:"logGroupName"`
		RetentionInDays int    `json:"retentionInDays"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, s.setRetention(r, in.LogGroupName, in.RetentionInDays)
}

type awsMetricTransformation struct {
	MetricName      string            `json:"metricName"`
	MetricNamespace string            `json:"metricNamespace"`
	MetricValue     string            `json:"metricValue"`
	DefaultValue    *float64          `json:"defaultValue,omitempty"`
	Dimensions      map[string]string `json:"dimensions,omitempty"`
	Unit            string            `json:"unit,omitempty"`
}

func (s *Server) awsPutMetricFilter(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName           string                    `json:"logGroupName"`
		FilterName             string                    `json:"filterName"`
		FilterPattern          string                    `json:"filterPattern"`
		MetricTransformations  []awsMetricTransformation `json:"metricTransformations"`
		ApplyOnTransformedLogs bool                      `json:"applyOnTransformedLogs"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if len(in.MetricTransformations) != 1 {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "metricTransformations: exactly one, as CloudWatch Logs takes")
	}
	mt := in.MetricTransformations[0]
	if mt.DefaultValue != nil || mt.Unit != "" {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "defaultValue and unit are not kept by this server's metric filters")
	}
	_, err := s.putMetricFilter(r, api.MetricFilter{Group: in.LogGroupName, Name: in.FilterName, Pattern: in.FilterPattern,
		Namespace: mt.MetricNamespace, MetricName: mt.MetricName, Value: mt.MetricValue, Dimensions: mt.Dimensions})
	return struct{}{}, err
}

func (s *Server) awsDescribeMetricFilters(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName     string `json:"logGroupName"`
		FilterNamePrefix string `json:"filterNamePrefix"`
		MetricName       string `json:"metricName"`
		MetricNamespace  string `json:"metricNamespace"`
		Limit            int    `json:"limit"`
		NextToken        string `json:"nextToken"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	limit, err := awsLimit(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	start, err := parseAWSToken("metricfilters", in.NextToken)
	if err != nil {
		return nil, err
	}
	fs, err := s.listMetricFilters(r, in.LogGroupName)
	if err != nil {
		return nil, err
	}
	type filter struct {
		FilterName            string                    `json:"filterName"`
		FilterPattern         string                    `json:"filterPattern"`
		MetricTransformations []awsMetricTransformation `json:"metricTransformations"`
		CreationTime          int64                     `json:"creationTime"`
		LogGroupName          string                    `json:"logGroupName"`
	}
	var matched []filter
	for _, f := range fs {
		if !strings.HasPrefix(f.Name, in.FilterNamePrefix) || (in.MetricName != "" && f.MetricName != in.MetricName) || (in.MetricNamespace != "" && f.Namespace != in.MetricNamespace) {
			continue
		}
		matched = append(matched, filter{FilterName: f.Name, FilterPattern: f.Pattern, CreationTime: ms(f.CreationTime), LogGroupName: f.Group,
			MetricTransformations: []awsMetricTransformation{{MetricName: f.MetricName, MetricNamespace: f.Namespace, MetricValue: f.Value, Dimensions: f.Dimensions}}})
	}
	var out struct {
		MetricFilters []filter `json:"metricFilters"`
		NextToken     string   `json:"nextToken,omitempty"`
	}
	out.MetricFilters, out.NextToken = awsPage(matched, start, limit, "metricfilters")
	return out, nil
}

func (s *Server) awsDeleteMetricFilter(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName string `json:"logGroupName"`
		FilterName   string `json:"filterName"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, s.deleteMetricFilter(r, in.LogGroupName, in.FilterName)
}
