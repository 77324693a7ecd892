package subscriptions

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/filterpattern"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/searchindex"
	"github.com/postern/postern/webhook"
)

// maxStreams is Data Firehose's default limit of delivery streams a
// region (an account here).
const maxStreams = 50

func groupEntity(account, name string) authz.Entity { return authz.Named("LogGroup", account, name) }

func streamEntity(account, name string) authz.Entity {
	return authz.Named("DeliveryStream", account, name)
}

func (h *Handlers) putFilter(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	var req api.SubscriptionFilter
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := h.Authorize(r, authz.PutSubscriptionFilter, groupEntity(c.Account, req.Group)); err != nil {
		return err
	}
	if req.Pattern != "" {
		if _, err := filterpattern.Parse(req.Pattern); err != nil {
			return invalid("filterPattern: %v", err)
		}
	}
	account, name, err := firehose.ParseARN(req.DestinationARN)
	if err != nil {
		return invalid("destinationArn: %v", err)
	}
	if account != c.Account {
		return invalid("destinationArn: %s is a delivery stream of account %s; a subscription filter sends only to its own account's", req.DestinationARN, account)
	}
	ss, err := h.streams(r.Context(), c.Account)
	if err != nil {
		return err
	}
	found := false
	for _, s := range ss {
		found = found || s.Name == name
	}
	if !found {
		return httpapi.Errorf(http.StatusNotFound, api.CodeResourceNotFoundException, "destinationArn: delivery stream %s does not exist", name)
	}
	f := logstore.SubscriptionFilter{Account: c.Account, Group: req.Group, Name: req.Name, Pattern: req.Pattern,
		DestinationARN: req.DestinationARN, Distribution: req.Distribution, CreatedAt: h.Now()}
	if err := h.Logs.PutSubscriptionFilter(r.Context(), f); err != nil {
		return storeError(err, "log group "+req.Group)
	}
	h.Kick()
	h.Logf("subscriptions: %s put subscription filter %s on log group %s -> %s", c.User.Name, f.Name, f.Group, f.DestinationARN)
	req.CreationTime = f.CreatedAt
	httpapi.WriteJSON(w, http.StatusOK, req)
	return nil
}

func (h *Handlers) listFilters(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	group := r.URL.Query().Get("group")
	// A listing shows only what the caller may describe, checked filter
	// by filter below: none at all is an answer too.
	c.Checked()
	fs, err := h.Logs.SubscriptionFilters(r.Context(), c.Account)
	if err != nil {
		return err
	}
	out := []api.SubscriptionFilter{}
	for _, f := range fs {
		if group != "" && f.Group != group {
			continue
		}
		if err := h.Authorize(r, authz.DescribeSubscriptionFilters, groupEntity(c.Account, f.Group)); err != nil {
			continue // a group the caller may not see
		}
		a := api.SubscriptionFilter{Group: f.Group, Name: f.Name, Pattern: f.Pattern, DestinationARN: f.DestinationARN,
			Distribution: f.Distribution, CreationTime: f.CreatedAt}
		n, oldest, err := h.Logs.Backlog(r.Context(), c.Account, f.Group, f.Cursor)
		if err != nil {
			return err
		}
		a.Backlog = n
		if !oldest.IsZero() {
			a.OldestPending = &oldest
		}
		out = append(out, a)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handlers) deleteFilter(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	group, name := r.URL.Query().Get("group"), r.URL.Query().Get("name")
	if err := h.Authorize(r, authz.DeleteSubscriptionFilter, groupEntity(c.Account, group)); err != nil {
		return err
	}
	if err := h.Logs.DeleteSubscriptionFilter(r.Context(), c.Account, group, name); err != nil {
		return storeError(err, "subscription filter "+name+" of log group "+group)
	}
	h.Kick()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) createStream(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	var req api.DeliveryStream
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := h.Authorize(r, authz.CreateDeliveryStream, streamEntity(c.Account, req.Name)); err != nil {
		return err
	}
	s := firehose.Stream{Account: c.Account, Name: req.Name, Bucket: req.Bucket, Prefix: req.Prefix, ErrorPrefix: req.ErrorPrefix,
		BufferBytes: int64(req.BufferSizeMiB) << 20, BufferInterval: firehose.DefaultBufferInterval, Compression: req.Compression, CreatedAt: h.Now()}
	if req.BufferIntervalSeconds != nil {
		s.BufferInterval = time.Duration(*req.BufferIntervalSeconds) * time.Second
	}
	s.Defaults()
	s.Destination = req.Destination
	var hook *webhook.Endpoint
	if req.Destination == firehose.DestHTTP {
		if req.HTTP == nil {
			return invalid("httpEndpointDestination: required for destination HTTP")
		}
		hook = &webhook.Endpoint{URL: req.HTTP.URL, Secret: req.HTTP.Secret, CAPEM: req.HTTP.CAPEM, Format: req.HTTP.Format}
		if hook.Format == "" {
			hook.Format = webhook.FormatAWSLogs
		}
		if err := hook.Check(); err != nil {
			return invalid("httpEndpointDestination: %v", err)
		}
		target, err := json.Marshal(hook)
		if err != nil {
			return err
		}
		s.Target = target
	} else if req.HTTP != nil {
		return invalid("httpEndpointDestination: only for destination HTTP")
	}
	var search *searchindex.Destination
	if req.Destination == firehose.DestOpenSearch {
		if req.OpenSearch == nil {
			return invalid("openSearchDestination: required for destination OpenSearch")
		}
		o := req.OpenSearch
		search = &searchindex.Destination{Endpoint: o.ClusterEndpoint, IndexPrefix: o.IndexName, Rotation: o.IndexRotationPeriod,
			Username: o.Username, Password: o.Password, APIKey: o.APIKey, CAPEM: o.CAPEM}
		if search.Rotation == "" {
			search.Rotation = searchindex.OneDay
		}
		if err := search.Check(); err != nil {
			return invalid("openSearchDestination: %v", err)
		}
		target, err := json.Marshal(search)
		if err != nil {
			return err
		}
		s.Target = target
	} else if req.OpenSearch != nil {
		return invalid("openSearchDestination: only for destination OpenSearch")
	}
	if err := s.Validate(); err != nil {
		return invalid("%v", err)
	}
	if req.KMSKeyID != "" {
		if h.CheckKey == nil {
			return invalid("kmsKeyArn: this server has no key service")
		}
		arn, err := h.CheckKey(r.Context(), c.Account, req.KMSKeyID, s.ARN())
		if err != nil {
			return httpapi.Errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "kmsKeyArn: %v", err)
		}
		s.KeyARN = arn
	}
	if s.Bucket != "" {
		if h.CheckBucket == nil {
			return httpapi.Errorf(http.StatusConflict, api.CodeDestinationUnavailable, "this server has no S3 destination configured (--s3-endpoint), which delivery streams write to")
		}
		if err := h.CheckBucket(r.Context(), s.Bucket, s.Prefix); err != nil {
			return httpapi.Errorf(http.StatusBadRequest, api.CodeDestinationCheckFailed, "bucket %s cannot take the stream's objects: %v", s.Bucket, err)
		}
	}
	if hook != nil {
		if h.CheckEndpoint == nil {
			return invalid("destination: this server cannot send to HTTP endpoints")
		}
		// As CloudWatch Logs checks a destination with a control
		// message when a subscription is made.
		if err := h.CheckEndpoint(r.Context(), *hook); err != nil {
			return httpapi.Errorf(http.StatusBadRequest, api.CodeDestinationCheckFailed, "httpEndpointDestination: %s did not take a control message: %v", hook.URL, err)
		}
	}
	if search != nil {
		if h.CheckSearch == nil {
			return invalid("destination: this server cannot send to OpenSearch")
		}
		// The cluster answers, takes these credentials, and takes
		// the index template the documents are mapped by.
		if err := h.CheckSearch(r.Context(), *search); err != nil {
			return httpapi.Errorf(http.StatusBadRequest, api.CodeDestinationCheckFailed, "openSearchDestination: %v", err)
		}
	}
	if have, err := h.Logs.DeliveryStreams(r.Context(), c.Account); err != nil {
		return err
	} else if len(have) >= maxStreams {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeLimitExceededException, "account %s has %d delivery streams: at most %d", c.Account, len(have), maxStreams)
	}
	settings, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := h.Logs.CreateDeliveryStream(r.Context(), logstore.DeliveryStream{Account: c.Account, Name: s.Name, Settings: string(settings), CreatedAt: s.CreatedAt}); err != nil {
		return storeError(err, "delivery stream "+s.Name)
	}
	dest := "s3://" + s.Bucket + "/" + s.Prefix
	switch {
	case hook != nil:
		dest = hook.URL
	case search != nil:
		dest = search.Endpoint + " " + search.IndexPattern()
	}
	h.Logf("subscriptions: %s created delivery stream %s -> %s", c.User.Name, s.Name, dest)
	httpapi.WriteJSON(w, http.StatusOK, apiStream(s))
	return nil
}

func apiStream(s firehose.Stream) api.DeliveryStream {
	secs := int(s.BufferInterval / time.Second)
	out := api.DeliveryStream{Name: s.Name, ARN: s.ARN(), Bucket: s.Bucket, Prefix: s.Prefix, ErrorPrefix: s.ErrorPrefix,
		BufferSizeMiB: int(s.BufferBytes >> 20), BufferIntervalSeconds: &secs, Compression: s.Compression, KMSKeyID: s.KeyARN,
		CreationTime: s.CreatedAt, Destination: cmp.Or(s.Destination, firehose.DestS3)}
	var hook webhook.Endpoint
	if s.Destination == firehose.DestHTTP && json.Unmarshal(s.Target, &hook) == nil {
		// Never the secret.
		out.HTTP = &api.HTTPEndpoint{URL: hook.URL, CAPEM: hook.CAPEM, Format: hook.Format}
	}
	var search searchindex.Destination
	if s.Destination == firehose.DestOpenSearch && json.Unmarshal(s.Target, &search) == nil {
		// Never the password or the API key.
		out.OpenSearch = &api.OpenSearchDestination{ClusterEndpoint: search.Endpoint, IndexName: search.IndexPrefix,
			IndexRotationPeriod: search.Rotation, Username: search.Username, CAPEM: search.CAPEM, Authentication: search.Authentication()}
	}
	return out
}

// status is a stream's status, with its sources' backlog.
func (h *Handlers) status(r *http.Request, s firehose.Stream) (*api.DeliveryStreamStatus, error) {
	st := h.Status()[s.ARN()]
	out := &api.DeliveryStreamStatus{Objects: st.Objects, Events: st.Events, Bytes: st.Bytes, ErrorObjects: st.ErrorObjects,
		BufferedBytes: st.Buffered, LastObjectKey: st.LastObjectKey, LastError: st.LastError}
	for t, p := range map[time.Time]**time.Time{st.LastDelivery: &out.LastDelivery, st.FailingSince: &out.FailingSince, st.NextAttempt: &out.NextAttempt} {
		if !t.IsZero() {
			*p = &t
		}
	}
	fs, err := h.Logs.SubscriptionFilters(r.Context(), s.Account)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.DestinationARN != s.ARN() {
			continue
		}
		out.Sources = append(out.Sources, f.Group+":"+f.Name)
		n, _, err := h.Logs.Backlog(r.Context(), f.Account, f.Group, f.Cursor)
		if err != nil && !errors.Is(err, logstore.ErrNotFound) {
			return nil, err
		}
		out.Backlog += n
	}
	return out, nil
}

func (h *Handlers) listStreams(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	c.Checked() // as listFilters: each stream is checked below
	ss, err := h.streams(r.Context(), c.Account)
	if err != nil {
		return err
	}
	out := []api.DeliveryStream{}
	for _, s := range ss {
		if h.Authorize(r, authz.DescribeDeliveryStreams, streamEntity(c.Account, s.Name)) != nil {
			continue
		}
		a := apiStream(s)
		if a.Status, err = h.status(r, s); err != nil {
			return err
		}
		out = append(out, a)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handlers) describeStream(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	name := r.PathValue("name")
	if err := h.Authorize(r, authz.DescribeDeliveryStreams, streamEntity(c.Account, name)); err != nil {
		return err
	}
	ss, err := h.streams(r.Context(), c.Account)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.Name == name {
			a := apiStream(s)
			if a.Status, err = h.status(r, s); err != nil {
				return err
			}
			httpapi.WriteJSON(w, http.StatusOK, a)
			return nil
		}
	}
	return httpapi.Errorf(http.StatusNotFound, api.CodeResourceNotFoundException, "delivery stream %s does not exist", name)
}

func (h *Handlers) deleteStream(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	name := r.PathValue("name")
	if err := h.Authorize(r, authz.DeleteDeliveryStream, streamEntity(c.Account, name)); err != nil {
		return err
	}
	arn := firehose.Stream{Account: c.Account, Name: name}.ARN()
	fs, err := h.Logs.SubscriptionFilters(r.Context(), c.Account)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.DestinationARN == arn {
			return httpapi.Errorf(http.StatusConflict, api.CodeResourceInUse, "delivery stream %s is the destination of subscription filter %s of log group %s: delete the filter first", name, f.Name, f.Group)
		}
	}
	if err := h.Logs.DeleteDeliveryStream(r.Context(), c.Account, name); err != nil {
		return storeError(err, "delivery stream "+name)
	}
	h.Kick()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// objectKey gives the caller the key of one of the stream's sealed
// objects, for postern logs decrypt, if the stream's key's policy lets
// them decrypt with it.
func (h *Handlers) objectKey(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	name := r.PathValue("name")
	if err := h.Authorize(r, authz.DescribeDeliveryStreams, streamEntity(c.Account, name)); err != nil {
		return err
	}
	var req api.DeliveryStreamKeyRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	ss, err := h.streams(r.Context(), c.Account)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		if h.ObjectKey == nil || s.KeyARN == "" {
			return invalid("delivery stream %s does not seal its objects", name)
		}
		key, err := h.ObjectKey(r, s, req)
		if err != nil {
			return httpapi.Errorf(http.StatusForbidden, api.CodeAccessDenied, "%s cannot read objects of delivery stream %s: %v", c.User.Name, name, err)
		}
		httpapi.WriteJSON(w, http.StatusOK, api.ArtifactKey{Key: key})
		return nil
	}
	return httpapi.Errorf(http.StatusNotFound, api.CodeResourceNotFoundException, "delivery stream %s does not exist (deleting a stream leaves its objects sealed)", name)
}
