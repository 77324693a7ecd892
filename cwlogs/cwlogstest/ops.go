package cwlogstest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type opHandler func(s *Server, body []byte) (any, *apiError)

// operations maps an X-Amz-Target operation name to its handler. A handler
// returning a nil result produces HTTP 200 with an empty body, which is what
// the service sends for operations without output members.
var operations = map[string]opHandler{
	"CreateLogGroup":        (*Server).createLogGroup,
	"DeleteLogGroup":        (*Server).deleteLogGroup,
	"DescribeLogGroups":     (*Server).describeLogGroups,
	"PutRetentionPolicy":    (*Server).putRetentionPolicy,
	"DeleteRetentionPolicy": (*Server).deleteRetentionPolicy,
	"AssociateKmsKey":       (*Server).associateKmsKey,
	"CreateLogStream":       (*Server).createLogStream,
	"DeleteLogStream":       (*Server).deleteLogStream,
	"DescribeLogStreams":    (*Server).describeLogStreams,
	"PutLogEvents":          (*Server).putLogEvents,
	"GetLogEvents":          (*Server).getLogEvents,
	"FilterLogEvents":       (*Server).filterLogEvents,
}

var logGroupClasses = []string{"STANDARD", "INFREQUENT_ACCESS", "DELIVERY", "ESSENTIALS"}

func enumConstraint(values []string) string {
	return "satisfy enum value set: [" + strings.Join(values, ", ") + "]"
}

// ---- log groups ----

func (s *Server) createLogGroup(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName              *string           `json:"logGroupName"`
		KmsKeyID                  *string           `json:"kmsKeyId"`
		Tags                      map[string]string `json:"tags"`
		LogGroupClass             *string           `json:"logGroupClass"`
		DeletionProtectionEnabled *bool             `json:"deletionProtectionEnabled"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.LogGroupName, "logGroupName") {
		v.groupName(in.LogGroupName, "logGroupName")
	}
	v.str(in.KmsKeyID, "kmsKeyId", 0, 256, nil, "")
	if len(in.Tags) > 50 {
		v.add(nil, "tags", "have length less than or equal to 50")
	}
	for _, k := range sortedKeys(in.Tags) {
		val := in.Tags[k]
		v.str(&k, "tags.key", 1, 128, reTagKey, tagKeyPattern)
		v.str(&val, "tags.value", 0, 256, reTagValue, tagValuePattern)
	}
	if in.LogGroupClass != nil && !slices.Contains(logGroupClasses, *in.LogGroupClass) {
		v.add(*in.LogGroupClass, "logGroupClass", enumConstraint(logGroupClasses))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	name := *in.LogGroupName
	if strings.HasPrefix(name, "aws/") {
		return nil, errInvalidParameter("Log group names can't start with the string aws/: %s", name)
	}
	for _, k := range sortedKeys(in.Tags) {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, errInvalidParameter("Tag keys can't start with the reserved prefix aws: %s", k)
		}
	}
	if in.DeletionProtectionEnabled != nil && *in.DeletionProtectionEnabled {
		// Not modelled: accepting it without enforcing it would let a test
		// believe DeleteLogGroup is blocked when it is not.
		return nil, errInvalidParameter("deletionProtectionEnabled is not supported by the cwlogstest fake")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[name]; ok {
		return nil, &apiError{status: http.StatusBadRequest, code: "ResourceAlreadyExistsException", msg: "The specified log group already exists"}
	}
	g := &group{
		name:         name,
		creationTime: s.nowMillis(),
		class:        "STANDARD",
		tags:         map[string]string{},
		streams:      map[string]*stream{},
	}
	if in.KmsKeyID != nil {
		if err := s.checkKMSKey("kmsKeyId", *in.KmsKeyID); err != nil {
			return nil, err
		}
		g.kmsKeyID = *in.KmsKeyID
	}
	if in.LogGroupClass != nil {
		g.class = *in.LogGroupClass
	}
	for k, val := range in.Tags {
		g.tags[k] = val
	}
	s.groups[name] = g
	return nil, nil
}

func (s *Server) deleteLogGroup(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.LogGroupName, "logGroupName") {
		v.groupName(in.LogGroupName, "logGroupName")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[*in.LogGroupName]; !ok {
		return nil, errGroupNotFound()
	}
	delete(s.groups, *in.LogGroupName)
	return nil, nil
}

type logGroupOut struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   *int32 `json:"retentionInDays,omitempty"`
	MetricFilterCount *int32 `json:"metricFilterCount,omitempty"`
	Arn               string `json:"arn"`
	StoredBytes       *int64 `json:"storedBytes,omitempty"`
	KmsKeyID          string `json:"kmsKeyId,omitempty"`
	LogGroupClass     string `json:"logGroupClass,omitempty"`
	LogGroupArn       string `json:"logGroupArn,omitempty"`
}

func (s *Server) describeLogGroups(body []byte) (any, *apiError) {
	var in struct {
		AccountIdentifiers    []string `json:"accountIdentifiers"`
		IncludeLinkedAccounts *bool    `json:"includeLinkedAccounts"`
		Limit                 *int32   `json:"limit"`
		LogGroupClass         *string  `json:"logGroupClass"`
		LogGroupIdentifiers   []string `json:"logGroupIdentifiers"`
		LogGroupNamePattern   *string  `json:"logGroupNamePattern"`
		LogGroupNamePrefix    *string  `json:"logGroupNamePrefix"`
		NextToken             *string  `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	v.groupName(in.LogGroupNamePrefix, "logGroupNamePrefix")
	v.str(in.LogGroupNamePattern, "logGroupNamePattern", 0, 512, reLogGroupNameOpt, logGroupNameOptPattern)
	v.intRange(in.Limit, "limit", 1, 50)
	v.nextToken(in.NextToken, "nextToken")
	if len(in.LogGroupIdentifiers) > 50 {
		v.add(nil, "logGroupIdentifiers", "have length less than or equal to 50")
	}
	for i := range in.LogGroupIdentifiers {
		v.str(&in.LogGroupIdentifiers[i], fmt.Sprintf("logGroupIdentifiers.%d.member", i+1), 1, 2048, reLogGroupIdentifier, logGroupIdentifierPattern)
	}
	if in.LogGroupClass != nil && !slices.Contains(logGroupClasses, *in.LogGroupClass) {
		v.add(*in.LogGroupClass, "logGroupClass", enumConstraint(logGroupClasses))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, errInvalidParameter("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
	}
	if in.LogGroupIdentifiers != nil && (in.LogGroupNamePrefix != nil || in.LogGroupNamePattern != nil) {
		return nil, errInvalidParameter("LogGroupIdentifiers can't be combined with LogGroupNamePrefix or LogGroupNamePattern.")
	}
	var wanted map[string]bool
	if in.LogGroupIdentifiers != nil {
		wanted = map[string]bool{}
		for _, id := range in.LogGroupIdentifiers {
			name, err := s.groupNameFromIdentifier(id)
			if err != nil {
				return nil, err
			}
			wanted[name] = true
		}
	}
	offset, err := decodePageToken(in.NextToken, "groups")
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*group
	for _, g := range s.sortedGroups() {
		switch {
		case in.LogGroupNamePrefix != nil && !strings.HasPrefix(g.name, *in.LogGroupNamePrefix):
			continue
		case in.LogGroupNamePattern != nil && !strings.Contains(g.name, *in.LogGroupNamePattern):
			continue
		case wanted != nil && !wanted[g.name]:
			continue
		case in.LogGroupClass != nil && !classMatches(*in.LogGroupClass, g.class):
			continue
		}
		matched = append(matched, g)
	}
	if offset > len(matched) {
		return nil, errInvalidParameter("The specified nextToken is invalid.")
	}
	page := matched[offset:]
	if len(page) > limit {
		page = page[:limit]
	}
	out := struct {
		LogGroups []logGroupOut `json:"logGroups"`
		NextToken string        `json:"nextToken,omitempty"`
	}{LogGroups: []logGroupOut{}}
	for _, g := range page {
		arn := s.groupARN(g.name)
		o := logGroupOut{LogGroupName: g.name, CreationTime: g.creationTime, Arn: arn + ":*"}
		if in.LogGroupNamePattern == nil {
			// "If you specify logGroupNamePattern in your request, then only
			// arn, creationTime, and logGroupName are included in the response."
			zero := int32(0)
			stored := g.storedBytes()
			o.MetricFilterCount = &zero
			o.StoredBytes = &stored
			o.KmsKeyID = g.kmsKeyID
			o.LogGroupClass = g.class
			o.LogGroupArn = arn
			if g.retention > 0 {
				r := g.retention
				o.RetentionInDays = &r
			}
		}
		out.LogGroups = append(out.LogGroups, o)
	}
	if end := offset + len(page); end < len(matched) {
		out.NextToken = encodePageToken("groups", end)
	}
	return out, nil
}

// classMatches applies DescribeLogGroups' logGroupClass filter: "If you
// specify either INFREQUENT_ACCESS or ESSENTIALS, the results include log
// groups in both the Infrequent Access and Essentials log classes."
func classMatches(filter, class string) bool {
	if filter == "INFREQUENT_ACCESS" || filter == "ESSENTIALS" {
		return class == "INFREQUENT_ACCESS" || class == "ESSENTIALS"
	}
	return filter == class
}

func (s *Server) putRetentionPolicy(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName    *string `json:"logGroupName"`
		RetentionInDays *int32  `json:"retentionInDays"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.LogGroupName, "logGroupName") {
		v.groupName(in.LogGroupName, "logGroupName")
	}
	if v.required(in.RetentionInDays, "retentionInDays") && !slices.Contains(validRetentionDays, *in.RetentionInDays) {
		vals := make([]string, len(validRetentionDays))
		for i, d := range validRetentionDays {
			vals[i] = strconv.Itoa(int(d))
		}
		v.add(*in.RetentionInDays, "retentionInDays", enumConstraint(vals))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[*in.LogGroupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	g.retention = *in.RetentionInDays
	return nil, nil
}

func (s *Server) deleteRetentionPolicy(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.LogGroupName, "logGroupName") {
		v.groupName(in.LogGroupName, "logGroupName")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[*in.LogGroupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	g.retention = 0
	return nil, nil
}

func (s *Server) associateKmsKey(body []byte) (any, *apiError) {
	var in struct {
		KmsKeyID           *string `json:"kmsKeyId"`
		LogGroupName       *string `json:"logGroupName"`
		ResourceIdentifier *string `json:"resourceIdentifier"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.KmsKeyID, "kmsKeyId") {
		v.str(in.KmsKeyID, "kmsKeyId", 0, 256, nil, "")
	}
	v.groupName(in.LogGroupName, "logGroupName")
	v.str(in.ResourceIdentifier, "resourceIdentifier", 1, 2048, nil, "")
	if err := v.err(); err != nil {
		return nil, err
	}
	var name string
	switch {
	case in.LogGroupName != nil && in.ResourceIdentifier != nil:
		return nil, errInvalidParameter("LogGroupName and ResourceIdentifier are mutually exclusive parameters.")
	case in.LogGroupName != nil:
		name = *in.LogGroupName
	case in.ResourceIdentifier != nil:
		if *in.ResourceIdentifier == fmt.Sprintf("arn:aws:logs:%s:%s:query-result:*", s.region, s.account) {
			name = "" // query results: nothing the fake stores
			break
		}
		n, err := s.groupNameFromIdentifier(*in.ResourceIdentifier)
		if err != nil || !strings.HasPrefix(*in.ResourceIdentifier, "arn:") {
			return nil, errInvalidParameter("Invalid resourceIdentifier: %s", *in.ResourceIdentifier)
		}
		name = n
	default:
		return nil, errInvalidParameter("Either LogGroupName or ResourceIdentifier must be specified.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var g *group
	if name != "" || in.ResourceIdentifier == nil {
		if g = s.groups[name]; g == nil {
			return nil, errGroupNotFound()
		}
	}
	if err := s.checkKMSKey("kmsKeyId", *in.KmsKeyID); err != nil {
		return nil, err
	}
	if g != nil {
		g.kmsKeyID = *in.KmsKeyID
	}
	return nil, nil
}

// ---- log streams ----

func (s *Server) createLogStream(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.LogGroupName, "logGroupName") {
		v.groupName(in.LogGroupName, "logGroupName")
	}
	if v.required(in.LogStreamName, "logStreamName") {
		v.streamName(in.LogStreamName, "logStreamName")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[*in.LogGroupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	if _, ok := g.streams[*in.LogStreamName]; ok {
		return nil, &apiError{status: http.StatusBadRequest, code: "ResourceAlreadyExistsException", msg: "The specified log stream already exists"}
	}
	g.streams[*in.LogStreamName] = &stream{name: *in.LogStreamName, creationTime: s.nowMillis()}
	return nil, nil
}

func (s *Server) deleteLogStream(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.LogGroupName, "logGroupName") {
		v.groupName(in.LogGroupName, "logGroupName")
	}
	if v.required(in.LogStreamName, "logStreamName") {
		v.streamName(in.LogStreamName, "logStreamName")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[*in.LogGroupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	if _, ok := g.streams[*in.LogStreamName]; !ok {
		return nil, errStreamNotFound()
	}
	delete(g.streams, *in.LogStreamName)
	return nil, nil
}

type logStreamOut struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp *int64 `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  *int64 `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   *int64 `json:"lastIngestionTime,omitempty"`
	UploadSequenceToken string `json:"uploadSequenceToken,omitempty"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

func (s *Server) describeLogStreams(body []byte) (any, *apiError) {
	var in struct {
		Descending          *bool   `json:"descending"`
		Limit               *int32  `json:"limit"`
		LogGroupIdentifier  *string `json:"logGroupIdentifier"`
		LogGroupName        *string `json:"logGroupName"`
		LogStreamNamePrefix *string `json:"logStreamNamePrefix"`
		NextToken           *string `json:"nextToken"`
		OrderBy             *string `json:"orderBy"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	v.groupName(in.LogGroupName, "logGroupName")
	v.str(in.LogGroupIdentifier, "logGroupIdentifier", 1, 2048, reLogGroupIdentifier, logGroupIdentifierPattern)
	v.streamName(in.LogStreamNamePrefix, "logStreamNamePrefix")
	v.intRange(in.Limit, "limit", 1, 50)
	v.nextToken(in.NextToken, "nextToken")
	orders := []string{"LogStreamName", "LastEventTime"}
	if in.OrderBy != nil && !slices.Contains(orders, *in.OrderBy) {
		v.add(*in.OrderBy, "orderBy", enumConstraint(orders))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	name, err := s.resolveGroupRef(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	byTime := in.OrderBy != nil && *in.OrderBy == "LastEventTime"
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, errInvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	offset, err := decodePageToken(in.NextToken, "streams")
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return nil, errGroupNotFound()
	}
	var matched []*stream
	for _, st := range g.sortedStreams() {
		if in.LogStreamNamePrefix == nil || strings.HasPrefix(st.name, *in.LogStreamNamePrefix) {
			matched = append(matched, st)
		}
	}
	if byTime {
		sort.SliceStable(matched, func(i, j int) bool { return matched[i].lastEventTimestamp() < matched[j].lastEventTimestamp() })
	}
	if in.Descending != nil && *in.Descending {
		slices.Reverse(matched)
	}
	if offset > len(matched) {
		return nil, errInvalidParameter("The specified nextToken is invalid.")
	}
	page := matched[offset:]
	if len(page) > limit {
		page = page[:limit]
	}
	out := struct {
		LogStreams []logStreamOut `json:"logStreams"`
		NextToken  string         `json:"nextToken,omitempty"`
	}{LogStreams: []logStreamOut{}}
	for _, st := range page {
		o := logStreamOut{
			LogStreamName:       st.name,
			CreationTime:        st.creationTime,
			UploadSequenceToken: st.uploadToken,
			Arn:                 fmt.Sprintf("%s:log-stream:%s", s.groupARN(g.name), st.name),
			StoredBytes:         st.storedBytes,
		}
		if len(st.events) > 0 {
			first, last, ingest := st.events[0].Timestamp, st.events[len(st.events)-1].Timestamp, st.lastIngestion
			o.FirstEventTimestamp, o.LastEventTimestamp, o.LastIngestionTime = &first, &last, &ingest
		}
		out.LogStreams = append(out.LogStreams, o)
	}
	if end := offset + len(page); end < len(matched) {
		out.NextToken = encodePageToken("streams", end)
	}
	return out, nil
}

func (st *stream) lastEventTimestamp() int64 {
	if len(st.events) == 0 {
		return 0
	}
	return st.events[len(st.events)-1].Timestamp
}

// ---- events ----

type inputLogEvent struct {
	Timestamp *int64  `json:"timestamp"`
	Message   *string `json:"message"`
}

type rejectedInfo struct {
	TooNewLogEventStartIndex *int `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int `json:"tooOldLogEventEndIndex,omitempty"`
	ExpiredLogEventEndIndex  *int `json:"expiredLogEventEndIndex,omitempty"`
}

func (s *Server) putLogEvents(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  *string          `json:"logGroupName"`
		LogStreamName *string          `json:"logStreamName"`
		LogEvents     *[]inputLogEvent `json:"logEvents"`
		SequenceToken *string          `json:"sequenceToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	if v.required(in.LogGroupName, "logGroupName") {
		v.groupName(in.LogGroupName, "logGroupName")
	}
	if v.required(in.LogStreamName, "logStreamName") {
		v.streamName(in.LogStreamName, "logStreamName")
	}
	v.nextToken(in.SequenceToken, "sequenceToken")
	if in.LogEvents == nil {
		v.add(nil, "logEvents", "not be null")
	} else {
		evs := *in.LogEvents
		if len(evs) < 1 {
			v.add(nil, "logEvents", "have length greater than or equal to 1")
		}
		if len(evs) > MaxBatchEvents {
			v.add(nil, "logEvents", fmt.Sprintf("have length less than or equal to %d", MaxBatchEvents))
		}
		for i, e := range evs {
			member := fmt.Sprintf("logEvents.%d.member", i+1)
			if v.required(e.Timestamp, member+".timestamp") && *e.Timestamp < 0 {
				v.add(*e.Timestamp, member+".timestamp", "have value greater than or equal to 0")
			}
			if v.required(e.Message, member+".message") {
				v.str(e.Message, member+".message", 1, 0, nil, "")
			}
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	evs := *in.LogEvents

	// Size limits: UTF-8 bytes of the message plus 26 bytes per event.
	total := 0
	for _, e := range evs {
		size := len(*e.Message) + EventOverheadBytes
		if size > s.maxEventSize {
			return nil, errInvalidParameter("Log event too large: %d bytes exceeds limit of %d", size, s.maxEventSize)
		}
		total += size
	}
	if total > MaxBatchBytes {
		return nil, errInvalidParameter("Upload too large: %d bytes exceeds limit of %d", total, MaxBatchBytes)
	}
	for i := 1; i < len(evs); i++ {
		if *evs[i].Timestamp < *evs[i-1].Timestamp {
			return nil, errInvalidParameter("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[*in.LogGroupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	st := g.streams[*in.LogStreamName]
	if st == nil {
		return nil, errStreamNotFound()
	}

	token := ""
	if in.SequenceToken != nil {
		token = *in.SequenceToken
	}
	digest := batchDigest(evs)
	if s.legacySeq {
		if st.hasUpload && token == st.prevToken && digest == st.lastBatch {
			return nil, &apiError{
				status: http.StatusBadRequest, code: "DataAlreadyAcceptedException",
				msg:   "The given batch of log events has already been accepted. The next batch can be sent with sequenceToken: " + st.uploadToken,
				extra: map[string]any{"expectedSequenceToken": st.uploadToken},
			}
		}
		if token != st.uploadToken {
			e := &apiError{status: http.StatusBadRequest, code: "InvalidSequenceTokenException", extra: map[string]any{}}
			if st.uploadToken == "" {
				e.msg = "The given sequenceToken is invalid. The next expected sequenceToken is: null"
			} else {
				e.msg = "The given sequenceToken is invalid. The next expected sequenceToken is: " + st.uploadToken
				e.extra["expectedSequenceToken"] = st.uploadToken
			}
			return nil, e
		}
	}

	now := s.now()
	tooOldCut := now.Add(-MaxEventAge).UnixMilli()
	tooNewCut := now.Add(MaxEventFuture).UnixMilli()
	tooOldEnd := sort.Search(len(evs), func(i int) bool { return *evs[i].Timestamp >= tooOldCut })
	expiredEnd := 0
	if g.retention > 0 {
		cut := now.Add(-time.Duration(g.retention) * 24 * time.Hour).UnixMilli()
		expiredEnd = sort.Search(len(evs), func(i int) bool { return *evs[i].Timestamp >= cut })
	}
	tooNewStart := sort.Search(len(evs), func(i int) bool { return *evs[i].Timestamp > tooNewCut })
	validStart := max(tooOldEnd, expiredEnd)
	validEnd := max(tooNewStart, validStart)
	valid := evs[validStart:validEnd]
	if len(valid) > 1 && *valid[len(valid)-1].Timestamp-*valid[0].Timestamp > MaxBatchSpan.Milliseconds() {
		return nil, errInvalidParameter("Log events in a single PutLogEvents request cannot span more than 24 hours.")
	}

	ingest := now.UnixMilli()
	for _, e := range valid {
		s.eventSeq++
		st.events = append(st.events, Event{
			Timestamp:     *e.Timestamp,
			Message:       *e.Message,
			IngestionTime: ingest,
			EventID:       fmt.Sprintf("%056d", s.eventSeq),
		})
		st.storedBytes += int64(len(*e.Message))
	}
	if len(valid) > 0 {
		sort.SliceStable(st.events, func(i, j int) bool { return st.events[i].Timestamp < st.events[j].Timestamp })
		st.lastIngestion = ingest
	}
	st.prevToken, st.lastBatch, st.hasUpload = token, digest, true
	s.tokenSeq++
	st.uploadToken = fmt.Sprintf("%056d", s.tokenSeq)

	out := struct {
		NextSequenceToken     string        `json:"nextSequenceToken"`
		RejectedLogEventsInfo *rejectedInfo `json:"rejectedLogEventsInfo,omitempty"`
	}{NextSequenceToken: st.uploadToken}
	var rej rejectedInfo
	if tooOldEnd > 0 {
		rej.TooOldLogEventEndIndex = &tooOldEnd
	}
	if expiredEnd > tooOldEnd {
		rej.ExpiredLogEventEndIndex = &expiredEnd
	}
	if tooNewStart < len(evs) {
		rej.TooNewLogEventStartIndex = &tooNewStart
	}
	if rej != (rejectedInfo{}) {
		out.RejectedLogEventsInfo = &rej
	}
	return out, nil
}

func batchDigest(evs []inputLogEvent) string {
	h := sha256.New()
	var b [8]byte
	for _, e := range evs {
		binary.BigEndian.PutUint64(b[:], uint64(*e.Timestamp))
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(len(*e.Message)))
		h.Write(b[:])
		h.Write([]byte(*e.Message))
	}
	return string(h.Sum(nil))
}

type outputLogEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// maxResponseBytes is GetLogEvents' default page size: "as many log events as
// can fit in a response size of 1 MB (up to 10,000 log events)".
const maxResponseBytes = 1048576

func (s *Server) getLogEvents(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName       *string `json:"logGroupName"`
		LogGroupIdentifier *string `json:"logGroupIdentifier"`
		LogStreamName      *string `json:"logStreamName"`
		StartTime          *int64  `json:"startTime"`
		EndTime            *int64  `json:"endTime"`
		NextToken          *string `json:"nextToken"`
		Limit              *int32  `json:"limit"`
		StartFromHead      *bool   `json:"startFromHead"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	v.groupName(in.LogGroupName, "logGroupName")
	v.str(in.LogGroupIdentifier, "logGroupIdentifier", 1, 2048, reLogGroupIdentifier, logGroupIdentifierPattern)
	if v.required(in.LogStreamName, "logStreamName") {
		v.streamName(in.LogStreamName, "logStreamName")
	}
	timeRange(&v, in.StartTime, in.EndTime)
	v.intRange(in.Limit, "limit", 1, 10000)
	v.nextToken(in.NextToken, "nextToken")
	if err := v.err(); err != nil {
		return nil, err
	}
	name, err := s.resolveGroupRef(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return nil, errGroupNotFound()
	}
	st := g.streams[*in.LogStreamName]
	if st == nil {
		return nil, errStreamNotFound()
	}
	// startTime is inclusive; "Events with a timestamp equal to or later than
	// [endTime] are not included."
	var evs []Event
	for _, e := range st.events {
		if in.StartTime != nil && e.Timestamp < *in.StartTime {
			continue
		}
		if in.EndTime != nil && e.Timestamp >= *in.EndTime {
			continue
		}
		evs = append(evs, e)
	}

	maxN, byteCap := 10000, true
	if in.Limit != nil {
		maxN, byteCap = int(*in.Limit), false
	}
	fits := func(n, bytes int, e Event) bool {
		return n < maxN && (!byteCap || bytes+len(e.Message)+EventOverheadBytes <= maxResponseBytes)
	}
	forward := in.StartFromHead != nil && *in.StartFromHead
	pos := len(evs)
	if forward {
		pos = 0
	}
	if in.NextToken != nil {
		dir, p, ok := parseEventToken(*in.NextToken)
		if !ok || p > len(evs) {
			return nil, errInvalidParameter("The specified nextToken is invalid.")
		}
		forward, pos = dir == 'f', p
	}
	start, end := pos, pos
	if forward {
		for n, b := 0, 0; end < len(evs) && fits(n, b, evs[end]); n, end = n+1, end+1 {
			b += len(evs[end].Message) + EventOverheadBytes
		}
	} else {
		for n, b := 0, 0; start > 0 && fits(n, b, evs[start-1]); n, start = n+1, start-1 {
			b += len(evs[start-1].Message) + EventOverheadBytes
		}
	}
	out := struct {
		Events            []outputLogEvent `json:"events"`
		NextForwardToken  string           `json:"nextForwardToken"`
		NextBackwardToken string           `json:"nextBackwardToken"`
	}{
		Events:            []outputLogEvent{},
		NextForwardToken:  fmt.Sprintf("f/%056d", end),
		NextBackwardToken: fmt.Sprintf("b/%056d", start),
	}
	for _, e := range evs[start:end] {
		out.Events = append(out.Events, outputLogEvent{Timestamp: e.Timestamp, Message: e.Message, IngestionTime: e.IngestionTime})
	}
	return out, nil
}

func timeRange(v *violations, start, end *int64) {
	if start != nil && *start < 0 {
		v.add(*start, "startTime", "have value greater than or equal to 0")
	}
	if end != nil && *end < 0 {
		v.add(*end, "endTime", "have value greater than or equal to 0")
	}
}

// parseEventToken reads the GetLogEvents tokens this fake issues: "f/<pos>"
// (forward) or "b/<pos>" (backward), pos being a 56-digit index like the
// service's opaque tokens.
func parseEventToken(tok string) (dir byte, pos int, ok bool) {
	if len(tok) < 3 || (tok[0] != 'f' && tok[0] != 'b') || tok[1] != '/' {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(tok[2:], 10, 31)
	if err != nil {
		return 0, 0, false
	}
	return tok[0], int(n), true
}

// descendingStartCutoff is 2024-01-01T00:00:00Z: "Setting startFromHead to false
// is supported only when startTime is on or after Jan 1, 2024 00:00:00 UTC."
var descendingStartCutoff = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

type filteredLogEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

func (s *Server) filterLogEvents(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName        *string   `json:"logGroupName"`
		LogGroupIdentifier  *string   `json:"logGroupIdentifier"`
		LogStreamNames      *[]string `json:"logStreamNames"`
		LogStreamNamePrefix *string   `json:"logStreamNamePrefix"`
		StartTime           *int64    `json:"startTime"`
		EndTime             *int64    `json:"endTime"`
		FilterPattern       *string   `json:"filterPattern"`
		NextToken           *string   `json:"nextToken"`
		Limit               *int32    `json:"limit"`
		StartFromHead       *bool     `json:"startFromHead"`
		Interleaved         *bool     `json:"interleaved"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v violations
	v.groupName(in.LogGroupName, "logGroupName")
	v.str(in.LogGroupIdentifier, "logGroupIdentifier", 1, 2048, reLogGroupIdentifier, logGroupIdentifierPattern)
	if in.LogStreamNames != nil {
		names := *in.LogStreamNames
		if len(names) < 1 {
			v.add(nil, "logStreamNames", "have length greater than or equal to 1")
		}
		if len(names) > 100 {
			v.add(nil, "logStreamNames", "have length less than or equal to 100")
		}
		for i := range names {
			v.streamName(&names[i], fmt.Sprintf("logStreamNames.%d.member", i+1))
		}
	}
	v.streamName(in.LogStreamNamePrefix, "logStreamNamePrefix")
	timeRange(&v, in.StartTime, in.EndTime)
	v.str(in.FilterPattern, "filterPattern", 0, 1024, nil, "")
	v.intRange(in.Limit, "limit", 1, 10000)
	v.nextToken(in.NextToken, "nextToken")
	if err := v.err(); err != nil {
		return nil, err
	}
	name, err := s.resolveGroupRef(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if in.LogStreamNames != nil && in.LogStreamNamePrefix != nil {
		return nil, errInvalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	if in.FilterPattern != nil && *in.FilterPattern != "" {
		return nil, errInvalidParameter("filterPattern %q is not supported by the cwlogstest fake: it implements only the empty pattern, which matches every event", *in.FilterPattern)
	}
	ascending := in.StartFromHead == nil || *in.StartFromHead
	if !ascending && in.StartTime != nil && *in.StartTime < descendingStartCutoff {
		return nil, errInvalidParameter("startFromHead=false is supported only when startTime is on or after Jan 1, 2024 00:00:00 UTC.")
	}
	offset := 0
	if in.NextToken != nil {
		// "If you provide both nextToken and startFromHead, the direction of
		// the nextToken is used."
		dir, off, ok := decodeFilterToken(*in.NextToken)
		if !ok {
			return nil, errInvalidParameter("The specified nextToken is invalid.")
		}
		ascending, offset = dir, off
	}
	limit := 10000
	if in.Limit != nil {
		limit = int(*in.Limit)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return nil, errGroupNotFound()
	}
	var streams []*stream
	switch {
	case in.LogStreamNames != nil:
		// Names of streams that do not exist are skipped.
		for _, n := range *in.LogStreamNames {
			if st := g.streams[n]; st != nil && !slices.Contains(streams, st) {
				streams = append(streams, st)
			}
		}
	default:
		for _, st := range g.sortedStreams() {
			if in.LogStreamNamePrefix == nil || strings.HasPrefix(st.name, *in.LogStreamNamePrefix) {
				streams = append(streams, st)
			}
		}
	}
	// startTime inclusive; "Events with a timestamp later than [endTime] are
	// not returned", so endTime is inclusive too.
	var matched []filteredLogEvent
	for _, st := range streams {
		for _, e := range st.events {
			if (in.StartTime != nil && e.Timestamp < *in.StartTime) || (in.EndTime != nil && e.Timestamp > *in.EndTime) {
				continue
			}
			matched = append(matched, filteredLogEvent{LogStreamName: st.name, Timestamp: e.Timestamp, Message: e.Message, IngestionTime: e.IngestionTime, EventID: e.EventID})
		}
	}
	sort.Slice(matched, func(i, j int) bool {
		if matched[i].Timestamp != matched[j].Timestamp {
			return matched[i].Timestamp < matched[j].Timestamp
		}
		return matched[i].EventID < matched[j].EventID
	})
	if !ascending {
		slices.Reverse(matched)
	}
	if offset > len(matched) {
		return nil, errInvalidParameter("The specified nextToken is invalid.")
	}
	page := matched[offset:]
	if len(page) > limit {
		page = page[:limit]
	}
	out := struct {
		Events             []filteredLogEvent `json:"events"`
		SearchedLogStreams []struct{}         `json:"searchedLogStreams"`
		NextToken          string             `json:"nextToken,omitempty"`
	}{Events: append([]filteredLogEvent{}, page...), SearchedLogStreams: []struct{}{}}
	if end := offset + len(page); end < len(matched) {
		out.NextToken = encodeFilterToken(ascending, end)
	}
	return out, nil
}

// Page tokens are opaque to clients, as the service's are. They encode an
// offset into the sorted result, so a listing that changes between pages may
// skip or repeat entries.

func encodePageToken(kind string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("cwlogstest/%s/%d", kind, offset)))
}

func decodePageToken(tok *string, kind string) (int, *apiError) {
	if tok == nil {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil {
		return 0, errInvalidParameter("The specified nextToken is invalid.")
	}
	rest, ok := strings.CutPrefix(string(raw), "cwlogstest/"+kind+"/")
	n, err := strconv.Atoi(rest)
	if !ok || err != nil || n < 0 {
		return 0, errInvalidParameter("The specified nextToken is invalid.")
	}
	return n, nil
}

func encodeFilterToken(ascending bool, offset int) string {
	kind := "fle-desc"
	if ascending {
		kind = "fle-asc"
	}
	return encodePageToken(kind, offset)
}

func decodeFilterToken(tok string) (ascending bool, offset int, ok bool) {
	if n, err := decodePageToken(&tok, "fle-asc"); err == nil {
		return true, n, true
	}
	if n, err := decodePageToken(&tok, "fle-desc"); err == nil {
		return false, n, true
	}
	return false, 0, false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
