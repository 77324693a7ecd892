package client

import (
	"context"

	"github.com/postern/postern/api"
)

// Keys lists the account's keys.
func (c *Client) Keys(ctx context.Context) ([]api.Key, error) {
	var out []api.Key
	err := c.do(ctx, "GET", api.PathKeys, nil, &out)
	return out, err
}

// CreateKey creates a key (administrators only).
func (c *Client) CreateKey(ctx context.Context, req api.CreateKeyRequest) (api.Key, error) {
	var out api.Key
	err := c.do(ctx, "POST", api.PathKeys, req, &out)
	return out, err
}

// KeyAction runs one of KMS's calls on a key (see api.KeyRequest) and
// returns the key as it is after; delete-alias returns the zero Key.
func (c *Client) KeyAction(ctx context.Context, action string, req api.KeyRequest) (api.Key, error) {
	var out api.Key
	err := c.do(ctx, "POST", api.PathKeys+"/"+action, req, &out)
	return out, err
}
