package client

import (
	"context"
	"net/url"

	"github.com/postern/postern/api"
)

// CreateOrganization makes an organization that the caller's account
// manages.
func (c *Client) CreateOrganization(ctx context.Context) (api.Organization, error) {
	var out api.Organization
	err := c.do(ctx, "POST", api.PathOrg, struct{}{}, &out)
	return out, err
}

// Organization describes the caller's account's organization.
func (c *Client) Organization(ctx context.Context) (api.Organization, error) {
	var out api.Organization
	err := c.do(ctx, "GET", api.PathOrg, nil, &out)
	return out, err
}

// OrgAccounts lists the organization's accounts.
func (c *Client) OrgAccounts(ctx context.Context) ([]api.OrgAccount, error) {
	var out []api.OrgAccount
	err := c.do(ctx, "GET", api.PathOrg+"/accounts", nil, &out)
	return out, err
}

// CreateOrgAccount creates a member account.
func (c *Client) CreateOrgAccount(ctx context.Context, req api.CreateAccountRequest) (api.OrgAccount, error) {
	var out api.OrgAccount
	err := c.do(ctx, "POST", api.PathOrg+"/accounts", req, &out)
	return out, err
}

// MoveOrgAccount moves an account between units.
func (c *Client) MoveOrgAccount(ctx context.Context, id string, req api.MoveAccountRequest) (api.OrgAccount, error) {
	var out api.OrgAccount
	err := c.do(ctx, "POST", api.PathOrg+"/accounts/"+url.PathEscape(id)+"/move", req, &out)
	return out, err
}

// AssumeRole returns credentials of a role in a member account.
func (c *Client) AssumeRole(ctx context.Context, account string, req api.AssumeRoleRequest) (api.AssumeRoleResponse, error) {
	var out api.AssumeRoleResponse
	err := c.do(ctx, "POST", api.PathOrg+"/accounts/"+url.PathEscape(account)+"/assume-role", req, &out)
	return out, err
}

// OrgUnits lists the organization's root and units.
func (c *Client) OrgUnits(ctx context.Context) ([]api.OrgUnit, error) {
	var out []api.OrgUnit
	err := c.do(ctx, "GET", api.PathOrg+"/units", nil, &out)
	return out, err
}

// CreateOrgUnit adds an organizational unit.
func (c *Client) CreateOrgUnit(ctx context.Context, req api.CreateOrgUnitRequest) (api.OrgUnit, error) {
	var out api.OrgUnit
	err := c.do(ctx, "POST", api.PathOrg+"/units", req, &out)
	return out, err
}

// DeleteOrgUnit deletes an empty organizational unit.
func (c *Client) DeleteOrgUnit(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", api.PathOrg+"/units/"+url.PathEscape(id), nil, nil)
}

// SetOrgArchive sets the organization's central archive.
func (c *Client) SetOrgArchive(ctx context.Context, a api.OrgArchive) (api.OrgArchive, error) {
	var out api.OrgArchive
	err := c.do(ctx, "PUT", api.PathOrg+"/archive", a, &out)
	return out, err
}

// OrgArchive returns the organization's archive and its copies' status.
func (c *Client) OrgArchive(ctx context.Context) (api.OrgArchiveStatus, error) {
	var out api.OrgArchiveStatus
	err := c.do(ctx, "GET", api.PathOrg+"/archive", nil, &out)
	return out, err
}

// ArchiveKey returns the key of an organization's archive copy.
func (c *Client) ArchiveKey(ctx context.Context, req api.ArchiveKeyRequest) ([]byte, error) {
	var out api.ArtifactKey
	err := c.do(ctx, "POST", api.PathOrg+"/archive/key", req, &out)
	return out.Key, err
}
