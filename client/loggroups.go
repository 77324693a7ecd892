package client

import (
	"context"
	"fmt"
	"net/url"

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
