package client

import (
	"context"
	"net/url"

	"github.com/postern/postern/api"
)

// Users, tokens and policies.

// Refresh trades a refresh token for a new session.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (api.LoginResponse, error) {
	var out api.LoginResponse
	err := c.do(ctx, "POST", api.PathRefresh, api.RefreshRequest{RefreshToken: refreshToken}, &out)
	return out, err
}

// Users lists the users the caller may see.
func (c *Client) Users(ctx context.Context) ([]api.User, error) {
	var out []api.User
	err := c.do(ctx, "GET", api.PathUsers, nil, &out)
	return out, err
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, req api.CreateUserRequest) (api.User, error) {
	var out api.User
	err := c.do(ctx, "POST", api.PathUsers, req, &out)
	return out, err
}

// DeleteUser deletes a user and the user's tokens.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", api.PathUsers+"/"+url.PathEscape(name), nil, nil)
}

// Tokens lists a user's tokens.
func (c *Client) Tokens(ctx context.Context, user string) ([]api.Token, error) {
	var out []api.Token
	err := c.do(ctx, "GET", api.PathUsers+"/"+url.PathEscape(user)+"/tokens", nil, &out)
	return out, err
}

// CreateToken makes an API token for a user; its secret is in the answer
// only.
func (c *Client) CreateToken(ctx context.Context, user string, req api.CreateTokenRequest) (api.Token, error) {
	var out api.Token
	err := c.do(ctx, "POST", api.PathUsers+"/"+url.PathEscape(user)+"/tokens", req, &out)
	return out, err
}

// RevokeToken revokes a user's token by ID.
func (c *Client) RevokeToken(ctx context.Context, user, id string) error {
	return c.do(ctx, "DELETE", api.PathUsers+"/"+url.PathEscape(user)+"/tokens/"+url.PathEscape(id), nil, nil)
}

// Policies lists the account's policies.
func (c *Client) Policies(ctx context.Context) ([]api.Policy, error) {
	var out []api.Policy
	err := c.do(ctx, "GET", api.PathPolicies, nil, &out)
	return out, err
}

// PutPolicy creates or replaces a policy.
func (c *Client) PutPolicy(ctx context.Context, id, text string) (api.Policy, error) {
	var out api.Policy
	err := c.do(ctx, "PUT", api.PathPolicies+"/"+url.PathEscape(id), api.Policy{Text: text}, &out)
	return out, err
}

// DeletePolicy deletes a policy.
func (c *Client) DeletePolicy(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", api.PathPolicies+"/"+url.PathEscape(id), nil, nil)
}

// TestPolicy asks whether a request would be allowed, and why.
func (c *Client) TestPolicy(ctx context.Context, req api.PolicyTestRequest) (api.PolicyTestResponse, error) {
	var out api.PolicyTestResponse
	err := c.do(ctx, "POST", api.PathPolicies+"/test", req, &out)
	return out, err
}

// AccessKeys lists a user's access keys for the AWS-compatible APIs.
func (c *Client) AccessKeys(ctx context.Context, user string) ([]api.AccessKey, error) {
	var out []api.AccessKey
	err := c.do(ctx, "GET", api.PathUsers+"/"+url.PathEscape(user)+"/access-keys", nil, &out)
	return out, err
}

// CreateAccessKey makes an access key for a user; its secret is in the
// answer only.
func (c *Client) CreateAccessKey(ctx context.Context, user string) (api.AccessKey, error) {
	var out api.AccessKey
	err := c.do(ctx, "POST", api.PathUsers+"/"+url.PathEscape(user)+"/access-keys", nil, &out)
	return out, err
}

// DeleteAccessKey deletes a user's access key.
func (c *Client) DeleteAccessKey(ctx context.Context, user, id string) error {
	return c.do(ctx, "DELETE", api.PathUsers+"/"+url.PathEscape(user)+"/access-keys/"+url.PathEscape(id), nil, nil)
}
