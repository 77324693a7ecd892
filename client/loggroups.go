package client

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/postern/postern/api"
)

// LogGroups lists the account's built-in log groups.
func (c *Client) LogGroups(ctx context.Context) ([]api.LogGroup, error) {
	var out []api.LogGroup
	err := c.do(ctx, "GET", api.PathLogGroups, nil, &out)
	return out, err
}

// CreateLogGroup creates a built-in log group (administrators only).
func (c *Client) CreateLogGroup(ctx context.Context, req api.CreateLogGroupRequest) (api.LogGroup, error) {
	var out api.LogGroup
	err := c.do(ctx, "POST", api.PathLogGroups, req, &out)
	return out, err
}

// DeleteLogGroup deletes a built-in log group and its events
// (administrators only).
func (c *Client) DeleteLogGroup(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", api.PathLogGroups+"?name="+url.QueryEscape(name), nil, nil)
}

// LogStreams lists a built-in log group's streams.
func (c *Client) LogStreams(ctx context.Context, group string) ([]api.LogStream, error) {
	var out []api.LogStream
	err := c.do(ctx, "GET", api.PathLogGroups+"/streams?group="+url.QueryEscape(group), nil, &out)
	return out, err
}

// LogEvents returns up to limit events of a stream after the event with ID
// after (0: from the start), oldest first.
func (c *Client) LogEvents(ctx context.Context, group, stream string, after int64, limit int) ([]api.LogEvent, error) {
	var out []api.LogEvent
	q := url.Values{"group": {group}, "stream": {stream}, "after": {fmt.Sprint(after)}, "limit": {fmt.Sprint(limit)}}
	err := c.do(ctx, "GET", api.PathLogGroups+"/events?"+q.Encode(), nil, &out)
	return out, err
}

// TailOptions choose what a tail reads: the group (default: Postern's own
// /postern/sessions), one session's stream, where to start, and how long
// to wait for new events.
type TailOptions struct {
	Group   string
	Session string
	After   int64     // the Next of the last page; 0: start at Since
	Since   time.Time // zero: the server's default, 10 minutes ago
	Wait    time.Duration
}

// Tail returns the next page of a tail.
func (c *Client) Tail(ctx context.Context, o TailOptions) (api.TailResponse, error) {
	q := url.Values{}
	if o.Group != "" {
		q.Set("group", o.Group)
	}
	if o.Session != "" {
		q.Set("session", o.Session)
	}
	if o.After > 0 {
		q.Set("after", fmt.Sprint(o.After))
	} else if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	if o.Wait > 0 {
		q.Set("wait", o.Wait.String())
	}
	var out api.TailResponse
	err := c.do(ctx, "GET", api.PathLogGroups+"/tail?"+q.Encode(), nil, &out)
	return out, err
}

// Query runs a Logs Insights-style query over the events of group (""
// for Postern's own /postern/sessions) between start and end (zero: the
// server's default, the last hour).
func (c *Client) Query(ctx context.Context, query, group string, start, end time.Time) (api.QueryResult, error) {
	q := url.Values{"q": {query}}
	if group != "" {
		q.Set("group", group)
	}
	if !start.IsZero() {
		q.Set("start", start.UTC().Format(time.RFC3339Nano))
	}
	if !end.IsZero() {
		q.Set("end", end.UTC().Format(time.RFC3339Nano))
	}
	var out api.QueryResult
	err := c.do(ctx, "GET", api.PathLogGroups+"/query?"+q.Encode(), nil, &out)
	return out, err
}

// PutMetricFilter creates or replaces a metric filter (administrators
// only).
func (c *Client) PutMetricFilter(ctx context.Context, f api.MetricFilter) (api.MetricFilter, error) {
	var out api.MetricFilter
	err := c.do(ctx, "PUT", api.PathLogGroups+"/metric-filters", f, &out)
	return out, err
}

// MetricFilters lists the account's metric filters, of group only if it
// is not empty.
func (c *Client) MetricFilters(ctx context.Context, group string) ([]api.MetricFilter, error) {
	var out []api.MetricFilter
	err := c.do(ctx, "GET", api.PathLogGroups+"/metric-filters?group="+url.QueryEscape(group), nil, &out)
	return out, err
}

// DeleteMetricFilter deletes a metric filter (administrators only).
func (c *Client) DeleteMetricFilter(ctx context.Context, group, name string) error {
	q := url.Values{"group": {group}, "name": {name}}
	return c.do(ctx, "DELETE", api.PathLogGroups+"/metric-filters?"+q.Encode(), nil, nil)
}

// SetRetention sets a built-in log group's retention in days (0: never
// expire; administrators only).
func (c *Client) SetRetention(ctx context.Context, group string, days int) error {
	q := url.Values{"name": {group}, "days": {fmt.Sprint(days)}}
	return c.do(ctx, "PUT", api.PathLogGroups+"/retention?"+q.Encode(), nil, nil)
}
