package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/postern/postern/store"
)

const accountColumns = `id, name, created_at, COALESCE(org, ''), COALESCE(parent, '')`

func scanAccount(row scanner) (store.Account, error) {
	var a store.Account
	err := row.Scan(&a.ID, &a.Name, ts{&a.CreatedAt}, &a.Org, &a.Parent)
	return a, err
}

func (s *Store) GetAccount(ctx context.Context, id string) (store.Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	return a, wrapErr(err, "get account %s", id)
}

// CreateOrganization implements store.Organizations. The management
// account's row is locked, so that two servers cannot make it the
// management account of two organizations at once.
func (s *Store) CreateOrganization(ctx context.Context, o store.Organization) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var org *string
		if err := tx.QueryRow(ctx, `SELECT org FROM accounts WHERE id = $1 FOR UPDATE`, o.ManagementAccount).Scan(&org); err != nil {
			return fmt.Errorf("management account %s: %w", o.ManagementAccount, err)
		}
		if org != nil {
			return fmt.Errorf("account %s belongs to organization %s: %w", o.ManagementAccount, *org, store.ErrConflict)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, management_account, root, created_at, archive) VALUES ($1, $2, $3, $4, $5)`,
			o.ID, o.ManagementAccount, o.Root, tsArg(o.CreatedAt), o.Archive); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_units (id, org, parent, name, created_at) VALUES ($1, $2, NULL, 'Root', $3)`,
			o.Root, o.ID, tsArg(o.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE accounts SET org = $1, parent = $2 WHERE id = $3`, o.ID, o.Root, o.ManagementAccount)
		return err
	})
	return wrapErr(err, "create organization %s", o.ID)
}

const orgColumns = `id, management_account, root, created_at, archive`

func scanOrg(row scanner) (store.Organization, error) {
	var o store.Organization
	err := row.Scan(&o.ID, &o.ManagementAccount, &o.Root, ts{&o.CreatedAt}, &o.Archive)
	return o, err
}

func (s *Store) GetOrganization(ctx context.Context, id string) (store.Organization, error) {
	o, err := scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id))
	return o, wrapErr(err, "get organization %s", id)
}

func (s *Store) ListOrganizations(ctx context.Context) ([]store.Organization, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orgColumns+` FROM organizations ORDER BY id`)
	os, err := collect(rows, err, scanOrg)
	return os, wrapErr(err, "list organizations")
}

// orgParent checks, in tx, that parent is a unit (or the root) of org,
// and locks it, so that it cannot be deleted while something moves in.
func orgParent(ctx context.Context, tx pgx.Tx, org, parent string) error {
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM org_units WHERE id = $1 AND org = $2 FOR SHARE`, parent, org).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("parent %s is not a unit of organization %s: %w", parent, org, store.ErrNotFound)
	}
	return err
}

func (s *Store) CreateOrgUnit(ctx context.Context, u store.OrgUnit) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := orgParent(ctx, tx, u.Org, u.Parent); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO org_units (id, org, parent, name, created_at) VALUES ($1, $2, $3, $4, $5)`,
			u.ID, u.Org, u.Parent, u.Name, tsArg(u.CreatedAt))
		return err
	})
	return wrapErr(err, "create organizational unit %s", u.Name)
}

func (s *Store) ListOrgUnits(ctx context.Context, org string) ([]store.OrgUnit, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, org, COALESCE(parent, ''), name, created_at FROM org_units
		WHERE org = $1 ORDER BY parent IS NOT NULL, created_at, id`, org)
	us, err := collect(rows, err, func(row scanner) (store.OrgUnit, error) {
		var u store.OrgUnit
		err := row.Scan(&u.ID, &u.Org, &u.Parent, &u.Name, ts{&u.CreatedAt})
		return u, err
	})
	return us, wrapErr(err, "list organizational units of %s", org)
}

// DeleteOrgUnit implements store.Organizations. The unit's row is locked
// first: a unit or account created in it, or moved to it, at the same
// time waits, and then finds it gone.
func (s *Store) DeleteOrgUnit(ctx context.Context, org, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var parent *string
		if err := tx.QueryRow(ctx, `SELECT parent FROM org_units WHERE id = $1 AND org = $2 FOR UPDATE`, id, org).Scan(&parent); err != nil {
			return err
		}
		if parent == nil {
			return fmt.Errorf("it is the organization's root: %w", store.ErrConflict)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM org_units WHERE parent = $1) + (SELECT COUNT(*) FROM accounts WHERE parent = $1)`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("it holds %d units or accounts: %w", n, store.ErrConflict)
		}
		_, err := tx.Exec(ctx, `DELETE FROM org_units WHERE id = $1`, id)
		return err
	})
	return wrapErr(err, "delete organizational unit %s", id)
}

func (s *Store) CreateMemberAccount(ctx context.Context, a store.Account) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := orgParent(ctx, tx, a.Org, a.Parent); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_at, org, parent) VALUES ($1, $2, $3, $4, $5)`,
			a.ID, a.Name, tsArg(a.CreatedAt), a.Org, a.Parent)
		return err
	})
	return wrapErr(err, "create account %s", a.ID)
}

func (s *Store) MoveAccount(ctx context.Context, org, account, from, to string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := orgParent(ctx, tx, org, to); err != nil {
			return err
		}
		return checkAffected(tx.Exec(ctx, `UPDATE accounts SET parent = $1 WHERE id = $2 AND org = $3 AND parent = $4`, to, account, org, from))
	})
	return wrapErr(err, "move account %s from %s", account, from)
}

func (s *Store) ListAccounts(ctx context.Context, org string) ([]store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE org = $1 ORDER BY id`, org)
	as, err := collect(rows, err, scanAccount)
	return as, wrapErr(err, "list accounts of %s", org)
}

func (s *Store) SetOrgArchive(ctx context.Context, org, archive string) error {
	err := checkAffected(s.pool.Exec(ctx, `UPDATE organizations SET archive = $1 WHERE id = $2`, archive, org))
	return wrapErr(err, "set the archive of organization %s", org)
}

func (s *Store) CountDeliveries(ctx context.Context, destination string) ([]store.DeliveryCount, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT account, status, COUNT(*), MIN(created_at) FROM deliveries
		WHERE destination = $1 GROUP BY account, status ORDER BY account, status`, destination)
	cs, err := collect(rows, err, func(row scanner) (store.DeliveryCount, error) {
		var c store.DeliveryCount
		var n int64
		err := row.Scan(&c.Account, &c.Status, &n, ts{&c.Oldest})
		c.N = int(n)
		return c, err
	})
	return cs, wrapErr(err, "count deliveries to %s", destination)
}
