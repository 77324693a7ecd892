package client

import (
	"context"
	"net/url"

	"github.com/postern/postern/api"
)

func stackSetPath(name string) string { return api.PathStackSets + "/" + url.PathEscape(name) }

// CreateStackSet makes a stack set of the caller's organization.
func (c *Client) CreateStackSet(ctx context.Context, req api.CreateStackSetRequest) (api.StackSet, error) {
	var out api.StackSet
	err := c.do(ctx, "POST", api.PathStackSets, req, &out)
	return out, err
}

// StackSets lists the organization's stack sets.
func (c *Client) StackSets(ctx context.Context) ([]api.StackSet, error) {
	var out []api.StackSet
	err := c.do(ctx, "GET", api.PathStackSets, nil, &out)
	return out, err
}

// StackSet describes a stack set, with its template.
func (c *Client) StackSet(ctx context.Context, name string) (api.StackSet, error) {
	var out api.StackSet
	err := c.do(ctx, "GET", stackSetPath(name), nil, &out)
	return out, err
}

// UpdateStackSet changes a stack set and rolls the change out to its
// instances.
func (c *Client) UpdateStackSet(ctx context.Context, name string, req api.UpdateStackSetRequest) (api.StackOperation, error) {
	var out api.StackOperation
	err := c.do(ctx, "PUT", stackSetPath(name), req, &out)
	return out, err
}

// DeleteStackSet deletes a stack set without instances.
func (c *Client) DeleteStackSet(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", stackSetPath(name), nil, nil)
}

// DeployStackSet deploys a stack set to units and accounts.
func (c *Client) DeployStackSet(ctx context.Context, name string, req api.StackTargetsRequest) (api.StackOperation, error) {
	var out api.StackOperation
	err := c.do(ctx, "POST", stackSetPath(name)+"/deploy", req, &out)
	return out, err
}

// RemoveStackInstances removes a stack set's instances from units and
// accounts.
func (c *Client) RemoveStackInstances(ctx context.Context, name string, req api.StackTargetsRequest) (api.StackOperation, error) {
	var out api.StackOperation
	err := c.do(ctx, "POST", stackSetPath(name)+"/remove", req, &out)
	return out, err
}

// StackInstances lists a stack set's instances.
func (c *Client) StackInstances(ctx context.Context, name string) ([]api.StackInstance, error) {
	var out []api.StackInstance
	err := c.do(ctx, "GET", stackSetPath(name)+"/instances", nil, &out)
	return out, err
}

// DetectStackSetDrift checks every instance of a stack set for drift.
func (c *Client) DetectStackSetDrift(ctx context.Context, name string) (api.StackSetDrift, error) {
	var out api.StackSetDrift
	err := c.do(ctx, "POST", stackSetPath(name)+"/detect-drift", struct{}{}, &out)
	return out, err
}

// StackSetOperations lists a stack set's recent operations, newest first.
func (c *Client) StackSetOperations(ctx context.Context, name string) ([]api.StackOperation, error) {
	var out []api.StackOperation
	err := c.do(ctx, "GET", stackSetPath(name)+"/operations", nil, &out)
	return out, err
}
