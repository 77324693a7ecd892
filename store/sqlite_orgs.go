package store

import (
	"context"
	"database/sql"
	"fmt"
)

const accountColumns = `id, name, created_at, COALESCE(org, ''), COALESCE(parent, '')`

func scanAccount(sc scanner) (Account, error) {
	var a Account
	err := sc.Scan(&a.ID, &a.Name, microTime{&a.CreatedAt}, &a.Org, &a.Parent)
	return a, err
}

func (s *SQLite) GetAccount(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	return a, wrapErr(err, "get account %s", id)
}

func (s *SQLite) CreateOrganization(ctx context.Context, o Organization) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "create organization %s", o.ID)
	}
	defer tx.Rollback()
	var org sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT org FROM accounts WHERE id = ?`, o.ManagementAccount).Scan(&org); err != nil {
		return wrapErr(err, "create organization %s: management account %s", o.ID, o.ManagementAccount)
	}
	if org.Valid {
		return fmt.Errorf("store: create organization %s: account %s belongs to organization %s: %w", o.ID, o.ManagementAccount, org.String, ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, management_account, root, created_at, archive) VALUES (?, ?, ?, ?, ?)`,
		o.ID, o.ManagementAccount, o.Root, timeArg(o.CreatedAt), o.Archive); err != nil {
		return wrapErr(err, "create organization %s", o.ID)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO org_units (id, org, parent, name, created_at) VALUES (?, ?, NULL, 'Root', ?)`,
		o.Root, o.ID, timeArg(o.CreatedAt)); err != nil {
		return wrapErr(err, "create organization %s: root %s", o.ID, o.Root)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET org = ?, parent = ? WHERE id = ?`, o.ID, o.Root, o.ManagementAccount); err != nil {
		return wrapErr(err, "create organization %s", o.ID)
	}
	return wrapErr(tx.Commit(), "create organization %s", o.ID)
}

const orgColumns = `id, management_account, root, created_at, archive`

func scanOrg(sc scanner) (Organization, error) {
	var o Organization
	err := sc.Scan(&o.ID, &o.ManagementAccount, &o.Root, microTime{&o.CreatedAt}, &o.Archive)
	return o, err
}

func (s *SQLite) GetOrganization(ctx context.Context, id string) (Organization, error) {
	o, err := scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = ?`, id))
	return o, wrapErr(err, "get organization %s", id)
}

func (s *SQLite) ListOrganizations(ctx context.Context) ([]Organization, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+orgColumns+` FROM organizations ORDER BY id`)
	os, err := collect(rows, err, scanOrg)
	return os, wrapErr(err, "list organizations")
}

// orgParent checks, in tx, that parent is a unit (or the root) of org.
func orgParent(ctx context.Context, tx *sql.Tx, org, parent string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_units WHERE id = ? AND org = ?`, parent, org).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("parent %s is not a unit of organization %s: %w", parent, org, ErrNotFound)
	}
	return nil
}

func (s *SQLite) CreateOrgUnit(ctx context.Context, u OrgUnit) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "create organizational unit %s", u.Name)
	}
	defer tx.Rollback()
	if err := orgParent(ctx, tx, u.Org, u.Parent); err != nil {
		return wrapErr(err, "create organizational unit %s", u.Name)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO org_units (id, org, parent, name, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Org, u.Parent, u.Name, timeArg(u.CreatedAt)); err != nil {
		return wrapErr(err, "create organizational unit %s", u.Name)
	}
	return wrapErr(tx.Commit(), "create organizational unit %s", u.Name)
}

func (s *SQLite) ListOrgUnits(ctx context.Context, org string) ([]OrgUnit, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, org, COALESCE(parent, ''), name, created_at FROM org_units
		WHERE org = ? ORDER BY parent IS NOT NULL, created_at, id`, org)
	us, err := collect(rows, err,
		func(sc scanner) (OrgUnit, error) {
			var u OrgUnit
			err := sc.Scan(&u.ID, &u.Org, &u.Parent, &u.Name, microTime{&u.CreatedAt})
			return u, err
		})
	return us, wrapErr(err, "list organizational units of %s", org)
}

func (s *SQLite) DeleteOrgUnit(ctx context.Context, org, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "delete organizational unit %s", id)
	}
	defer tx.Rollback()
	var parent sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT parent FROM org_units WHERE id = ? AND org = ?`, id, org).Scan(&parent); err != nil {
		return wrapErr(err, "delete organizational unit %s", id)
	}
	if !parent.Valid {
		return fmt.Errorf("store: delete organizational unit %s: it is the organization's root: %w", id, ErrConflict)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM org_units WHERE parent = ?) + (SELECT COUNT(*) FROM accounts WHERE parent = ?)`, id, id).Scan(&n); err != nil {
		return wrapErr(err, "delete organizational unit %s", id)
	}
	if n > 0 {
		return fmt.Errorf("store: delete organizational unit %s: it holds %d units or accounts: %w", id, n, ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM org_units WHERE id = ?`, id); err != nil {
		return wrapErr(err, "delete organizational unit %s", id)
	}
	return wrapErr(tx.Commit(), "delete organizational unit %s", id)
}

func (s *SQLite) CreateMemberAccount(ctx context.Context, a Account) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "create account %s", a.ID)
	}
	defer tx.Rollback()
	if err := orgParent(ctx, tx, a.Org, a.Parent); err != nil {
		return wrapErr(err, "create account %s", a.ID)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, name, created_at, org, parent) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.Name, timeArg(a.CreatedAt), a.Org, a.Parent); err != nil {
		return wrapErr(err, "create account %s", a.ID)
	}
	return wrapErr(tx.Commit(), "create account %s", a.ID)
}

func (s *SQLite) MoveAccount(ctx context.Context, org, account, from, to string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "move account %s", account)
	}
	defer tx.Rollback()
	if err := orgParent(ctx, tx, org, to); err != nil {
		return wrapErr(err, "move account %s", account)
	}
	res, err := tx.ExecContext(ctx, `UPDATE accounts SET parent = ? WHERE id = ? AND org = ? AND parent = ?`, to, account, org, from)
	if err := checkAffected(res, err); err != nil {
		return wrapErr(err, "move account %s from %s", account, from)
	}
	return wrapErr(tx.Commit(), "move account %s", account)
}

func (s *SQLite) ListAccounts(ctx context.Context, org string) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE org = ? ORDER BY id`, org)
	as, err := collect(rows, err, scanAccount)
	return as, wrapErr(err, "list accounts of %s", org)
}

func (s *SQLite) SetOrgArchive(ctx context.Context, org, archive string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE organizations SET archive = ? WHERE id = ?`, archive, org)
	return wrapErr(checkAffected(res, err), "set the archive of organization %s", org)
}

func (s *SQLite) CountDeliveries(ctx context.Context, destination string) ([]DeliveryCount, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT account, status, COUNT(*), MIN(created_at) FROM deliveries
		WHERE destination = ? GROUP BY account, status ORDER BY account, status`, destination)
	cs, err := collect(rows, err, func(sc scanner) (DeliveryCount, error) {
		var c DeliveryCount
		err := sc.Scan(&c.Account, &c.Status, &c.N, microTime{&c.Oldest})
		return c, err
	})
	return cs, wrapErr(err, "count deliveries to %s", destination)
}
