package client

import (
	"context"
	"net/url"

	"github.com/postern/postern/api"
)

// SendCommand runs a command document on nodes (Run Command); the command
// runs on after this returns.
func (c *Client) SendCommand(ctx context.Context, req api.SendCommandRequest) (api.Command, error) {
	var out api.Command
	err := c.do(ctx, "POST", api.PathCommands, req, &out)
	return out, err
}

// Commands lists the commands the caller may see, newest first: state
// "active", "history" or "" for both.
func (c *Client) Commands(ctx context.Context, state string) ([]api.Command, error) {
	var out []api.Command
	err := c.do(ctx, "GET", api.PathCommands+"?state="+url.QueryEscape(state), nil, &out)
	return out, err
}

// Command describes a command and its nodes' results.
func (c *Client) Command(ctx context.Context, id string) (api.Command, error) {
	var out api.Command
	err := c.do(ctx, "GET", api.PathCommands+"/"+url.PathEscape(id), nil, &out)
	return out, err
}

// CancelCommand cancels a running command.
func (c *Client) CancelCommand(ctx context.Context, id string) (api.Command, error) {
	var out api.Command
	err := c.do(ctx, "POST", api.PathCommands+"/"+url.PathEscape(id)+"/cancel", nil, &out)
	return out, err
}
