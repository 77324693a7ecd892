package client

import (
	"context"
	"net/url"

	"github.com/postern/postern/api"
)

// PutSubscriptionFilter creates or replaces a log group's subscription
// filter.
func (c *Client) PutSubscriptionFilter(ctx context.Context, f api.SubscriptionFilter) (api.SubscriptionFilter, error) {
	var out api.SubscriptionFilter
	err := c.do(ctx, "PUT", api.PathLogGroups+"/subscription-filters", f, &out)
	return out, err
}

// SubscriptionFilters lists the account's subscription filters, of group
// only if it is not empty, each with its backlog.
func (c *Client) SubscriptionFilters(ctx context.Context, group string) ([]api.SubscriptionFilter, error) {
	var out []api.SubscriptionFilter
	err := c.do(ctx, "GET", api.PathLogGroups+"/subscription-filters?group="+url.QueryEscape(group), nil, &out)
	return out, err
}

// DeleteSubscriptionFilter deletes a subscription filter.
func (c *Client) DeleteSubscriptionFilter(ctx context.Context, group, name string) error {
	q := url.Values{"group": {group}, "name": {name}}
	return c.do(ctx, "DELETE", api.PathLogGroups+"/subscription-filters?"+q.Encode(), nil, nil)
}

// CreateDeliveryStream creates a delivery stream.
func (c *Client) CreateDeliveryStream(ctx context.Context, s api.DeliveryStream) (api.DeliveryStream, error) {
	var out api.DeliveryStream
	err := c.do(ctx, "POST", api.PathDeliveryStreams, s, &out)
	return out, err
}

// DeliveryStreams lists the account's delivery streams with their status.
func (c *Client) DeliveryStreams(ctx context.Context) ([]api.DeliveryStream, error) {
	var out []api.DeliveryStream
	err := c.do(ctx, "GET", api.PathDeliveryStreams, nil, &out)
	return out, err
}

// DeliveryStream describes a delivery stream and its status.
func (c *Client) DeliveryStream(ctx context.Context, name string) (api.DeliveryStream, error) {
	var out api.DeliveryStream
	err := c.do(ctx, "GET", api.PathDeliveryStreams+"/"+url.PathEscape(name), nil, &out)
	return out, err
}

// DeleteDeliveryStream deletes a delivery stream no filter sends to.
func (c *Client) DeleteDeliveryStream(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", api.PathDeliveryStreams+"/"+url.PathEscape(name), nil, nil)
}

// DeliveryStreamKey returns the key of a delivery stream's sealed object.
func (c *Client) DeliveryStreamKey(ctx context.Context, name string, req api.DeliveryStreamKeyRequest) ([]byte, error) {
	var out api.ArtifactKey
	err := c.do(ctx, "POST", api.PathDeliveryStreams+"/"+url.PathEscape(name)+"/key", req, &out)
	return out.Key, err
}

// PutRule creates or replaces an event rule.
func (c *Client) PutRule(ctx context.Context, r api.Rule) (api.Rule, error) {
	var out api.Rule
	err := c.do(ctx, "PUT", api.PathRules, r, &out)
	return out, err
}

// Rules lists the account's event rules, each target with its backlog.
func (c *Client) Rules(ctx context.Context) ([]api.Rule, error) {
	var out []api.Rule
	err := c.do(ctx, "GET", api.PathRules, nil, &out)
	return out, err
}

// DeleteRule deletes an event rule.
func (c *Client) DeleteRule(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", api.PathRules+"?name="+url.QueryEscape(name), nil, nil)
}
