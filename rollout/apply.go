package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/postern/postern/document"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
)

// LogGroups are the built-in log store's groups, as `postern logs groups
// create` and `put-retention` change them (the log store checks names,
// retention values and keys).
type LogGroups interface {
	CreateGroup(ctx context.Context, g logstore.Group) error
	Group(ctx context.Context, account, name string) (logstore.Group, error)
	SetRetention(ctx context.Context, account, name string, days int) error
	DeleteGroup(ctx context.Context, account, name string) error
}

// Documents are an account's session documents and preferences, stored as
// the API stores them (checked by package document, the preferences a
// Standard_Stream document). Missing ones are store.ErrNotFound.
type Documents interface {
	// PutDocument stores a new version of a document, as `postern
	// documents create` does; by is who the version says made it.
	PutDocument(ctx context.Context, account, by, name, content string) (store.Document, error)
	// PutPreferences stores a new version of the account's preferences,
	// as `postern prefs set` does.
	PutPreferences(ctx context.Context, account, by, content string) (store.Document, error)
	// Document returns the text of a document's latest version.
	Document(ctx context.Context, account, name string) (string, error)
	DeleteDocument(ctx context.Context, account, name string) error
}

// Policies are an account's Cedar policy documents, changed as `postern
// policy put` and `delete` change them: the account's policies must still
// parse, and still let its administrators manage policies, afterwards.
// Missing ones are store.ErrNotFound.
type Policies interface {
	PutPolicy(ctx context.Context, account, by, id, text string) error
	DeletePolicy(ctx context.Context, account, by, id string) error
	Policy(ctx context.Context, account, id string) (string, error)
}

// Keys is the built-in key service (package keys), whose keys' policies
// decide what the rollout may do with them: it acts as an administrator of
// the account (the account root of key policies).
type Keys interface {
	Create(ctx context.Context, account string, o keys.CreateOptions) (keys.Key, error)
	Describe(ctx context.Context, c keys.Caller, ref string) (keys.Key, error)
	SetDescription(ctx context.Context, c keys.Caller, ref, description string) error
	SetRotation(ctx context.Context, c keys.Caller, ref string, period time.Duration) error
	SetPolicy(ctx context.Context, c keys.Caller, ref, policy string) error
	Enable(ctx context.Context, c keys.Caller, ref string) error
	Disable(ctx context.Context, c keys.Caller, ref string) error
	ScheduleDeletion(ctx context.Context, c keys.Caller, ref string, days int) (time.Time, error)
	CancelDeletion(ctx context.Context, c keys.Caller, ref string) error
	SetAlias(ctx context.Context, c keys.Caller, name, ref string) error
	DeleteAlias(ctx context.Context, c keys.Caller, name string) error
}

// Applier makes an account's resources what a rendering says, reads them
// back, and removes them. A nil LogGroups or Keys is a server without a
// log store or key service: resources of those types fail, saying so.
type Applier struct {
	LogGroups LogGroups
	Documents Documents
	Policies  Policies
	Keys      Keys
}

// By is who a stack set's changes are made by, as documents and policies
// record it.
func By(stackSet string) string { return "stackset/" + stackSet }

// caller is the rollout as the key service sees it in account.
func caller(account string) keys.Caller {
	return keys.Caller{Account: account, ARN: ids.UserARN(account, ExecutionRole), Admin: true}
}

// Apply makes the resources rs (a rendering, in dependency order) exist in
// account as rendered, one after another, then removes those of prev (the
// instance's resources before) that left the template or were replaced,
// unless they are retained. It returns what the instance has deployed
// afterwards: on an error, the resources applied so far and those of prev
// still there, with the error naming the resource that failed.
func (a *Applier) Apply(ctx context.Context, account, by string, rs []stacktemplate.Resource, prev []Deployed) ([]Deployed, error) {
	var done []Deployed
	// same says whether a deployed resource is p: the same logical id
	// for the same thing, or another logical id for it (renamed).
	same := func(p Deployed) func(Deployed) bool {
		return func(d Deployed) bool {
			return d.LogicalID == p.LogicalID && d.PhysicalID == p.PhysicalID || d.Type == p.Type && d.PhysicalID == p.PhysicalID
		}
	}
	// kept is what the instance has after a failure: what was applied,
	// and what it had that is still there (replaced ones too, until a
	// deployment gets through and removes them).
	kept := func() []Deployed {
		out := slices.Clone(done)
		for _, p := range prev {
			if !slices.ContainsFunc(done, same(p)) {
				out = append(out, p)
			}
		}
		return out
	}
	for _, r := range rs {
		if err := a.apply(ctx, account, by, r); err != nil {
			return kept(), fmt.Errorf("%s (%s %s): %w", r.LogicalID, r.Type, r.PhysicalID, err)
		}
		d, err := Record(r)
		if err != nil {
			return kept(), err
		}
		done = append(done, d)
	}
	// What left the template goes, the last made first, unless another
	// resource now is the same thing (a logical id renamed).
	var gone []Deployed
	for _, p := range prev {
		if !slices.ContainsFunc(done, same(p)) {
			gone = append(gone, p)
		}
	}
	left, err := a.Remove(ctx, account, by, gone)
	return append(done, left...), err
}

// Remove deletes the resources ds (an instance's, in the order deployed)
// from account, the last first, but those retained, which stay. It returns
// those it could not delete, with the errors.
func (a *Applier) Remove(ctx context.Context, account, by string, ds []Deployed) ([]Deployed, error) {
	var left []Deployed
	var errs []error
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		if d.Retained() {
			continue
		}
		if err := a.remove(ctx, account, by, d); err != nil {
			left = append([]Deployed{d}, left...)
			errs = append(errs, fmt.Errorf("removing %s (%s %s): %w", d.LogicalID, d.Type, d.PhysicalID, err))
		}
	}
	return left, errors.Join(errs...)
}

func (a *Applier) apply(ctx context.Context, account, by string, r stacktemplate.Resource) error {
	switch p := r.Properties.(type) {
	case *stacktemplate.LogGroup:
		return a.applyLogGroup(ctx, account, p)
	case *stacktemplate.SessionDocument:
		return a.applyDocument(ctx, account, by, p)
	case *stacktemplate.Key:
		return a.applyKey(ctx, account, r.PhysicalID, p)
	case *stacktemplate.Alias:
		return a.applyAlias(ctx, account, p)
	case *stacktemplate.Policy:
		return a.applyPolicy(ctx, account, by, p)
	}
	return fmt.Errorf("rollout: resource type %s is not one Postern deploys", r.Type)
}

var (
	errNoLogStore   = errors.New("this server has no built-in log store")
	errNoKeyService = errors.New("this server has no key service")
)

func (a *Applier) applyLogGroup(ctx context.Context, account string, p *stacktemplate.LogGroup) error {
	if a.LogGroups == nil {
		return errNoLogStore
	}
	g, err := a.LogGroups.Group(ctx, account, p.LogGroupName)
	if errors.Is(err, logstore.ErrNotFound) {
		return a.LogGroups.CreateGroup(ctx, logstore.Group{Account: account, Name: p.LogGroupName, RetentionDays: p.RetentionInDays, KMSKeyID: p.KmsKeyID})
	}
	if err != nil {
		return err
	}
	if g.KMSKeyID != p.KmsKeyID {
		// The group's data key is wrapped under the key it was created
		// with; Postern has no AssociateKmsKey to rewrap it.
		return fmt.Errorf("the log group exists with key %q, not %q: a log group's key is set when it is created (delete the group, or give the template its key)", g.KMSKeyID, p.KmsKeyID)
	}
	if g.RetentionDays != p.RetentionInDays {
		return a.LogGroups.SetRetention(ctx, account, p.LogGroupName, p.RetentionInDays)
	}
	return nil
}

func (a *Applier) applyDocument(ctx context.Context, account, by string, p *stacktemplate.SessionDocument) error {
	content := p.ContentText()
	cur, err := a.Documents.Document(ctx, account, p.Name)
	switch {
	case err == nil && cur == content:
		return nil // as rendered: no new version
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	case p.Name == document.DefaultPreferences:
		_, err = a.Documents.PutPreferences(ctx, account, by, content)
	default:
		_, err = a.Documents.PutDocument(ctx, account, by, p.Name, content)
	}
	return err
}

func (a *Applier) applyKey(ctx context.Context, account, id string, p *stacktemplate.Key) error {
	if a.Keys == nil {
		return errNoKeyService
	}
	c := caller(account)
	period := time.Duration(p.RotationPeriodInDays) * 24 * time.Hour
	if !p.EnableKeyRotation {
		period = 0
	}
	k, err := a.Keys.Describe(ctx, c, id)
	if errors.Is(err, keys.ErrNotFound) {
		create := period
		if create == 0 {
			create = -1 // keys.CreateOptions: none
		}
		if _, err := a.Keys.Create(ctx, account, keys.CreateOptions{ID: id, Description: p.Description, Policy: p.PolicyText(), RotationPeriod: create}); err != nil {
			return err
		}
		if !p.Enabled {
			return a.Keys.Disable(ctx, c, id)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if k.State == store.KeyPendingDeletion {
		// Back from a scheduled deletion, as KMS brings it: disabled,
		// then enabled below if the template says so.
		if err := a.Keys.CancelDeletion(ctx, c, id); err != nil {
			return err
		}
		k.State = store.KeyDisabled
	}
	if k.Description != p.Description {
		if err := a.Keys.SetDescription(ctx, c, id, p.Description); err != nil {
			return err
		}
	}
	if k.RotationPeriod != period {
		if err := a.Keys.SetRotation(ctx, c, id, period); err != nil {
			return err
		}
	}
	if enabled := k.State == store.KeyEnabled; enabled != p.Enabled {
		set := a.Keys.Disable
		if p.Enabled {
			set = a.Keys.Enable
		}
		if err := set(ctx, c, id); err != nil {
			return err
		}
	}
	// The policy last: a new one may leave the rollout less than it
	// needed for the changes above.
	if !samePolicy(k.Policy, p.KeyPolicy) {
		return a.Keys.SetPolicy(ctx, c, id, p.PolicyText())
	}
	return nil
}

// samePolicy reports whether the policy text says what want does,
// whatever its spacing and key order.
func samePolicy(text string, want map[string]any) bool {
	got, err := decodeJSONObject(text)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(normalJSON(got), normalJSON(want))
}

// normalJSON re-encodes v so that values compare as JSON: numbers as
// json.Numbers of their text.
func normalJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	if dec.Decode(&out) != nil {
		return nil
	}
	return out
}

func decodeJSONObject(text string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// keyIDOf is the key id a TargetKeyId names: itself, or the end of its ARN.
func keyIDOf(ref string) string {
	if _, id, ok := strings.Cut(ref, ":key/"); ok {
		return id
	}
	return ref
}

func (a *Applier) applyAlias(ctx context.Context, account string, p *stacktemplate.Alias) error {
	if a.Keys == nil {
		return errNoKeyService
	}
	c := caller(account)
	if k, err := a.Keys.Describe(ctx, c, p.AliasName); err == nil && k.ID == keyIDOf(p.TargetKeyID) {
		return nil
	}
	return a.Keys.SetAlias(ctx, c, p.AliasName, p.TargetKeyID)
}

func (a *Applier) applyPolicy(ctx context.Context, account, by string, p *stacktemplate.Policy) error {
	cur, err := a.Policies.Policy(ctx, account, p.PolicyID)
	if err == nil && cur == p.Statement {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return a.Policies.PutPolicy(ctx, account, by, p.PolicyID, p.Statement)
}

// remove deletes one resource; one already gone is no error.
func (a *Applier) remove(ctx context.Context, account, by string, d Deployed) error {
	var err error
	switch d.Type {
	case stacktemplate.TypeLogGroup:
		if a.LogGroups == nil {
			return errNoLogStore
		}
		if err = a.LogGroups.DeleteGroup(ctx, account, d.PhysicalID); errors.Is(err, logstore.ErrNotFound) {
			err = nil
		}
	case stacktemplate.TypeDocument:
		// The account's preferences go back to the built-in default.
		if err = a.Documents.DeleteDocument(ctx, account, d.PhysicalID); errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	case stacktemplate.TypeKey:
		if a.Keys == nil {
			return errNoKeyService
		}
		days := keys.DefaultDeletionDays
		if want, werr := d.Want(); werr == nil {
			days = want.(*stacktemplate.Key).PendingWindowInDays
		}
		switch _, err = a.Keys.ScheduleDeletion(ctx, caller(account), d.PhysicalID, days); {
		case errors.Is(err, keys.ErrNotFound):
			err = nil
		case errors.Is(err, keys.ErrInvalidState):
			// Already pending deletion.
			if k, derr := a.Keys.Describe(ctx, caller(account), d.PhysicalID); derr == nil && k.State == store.KeyPendingDeletion {
				err = nil
			}
		}
	case stacktemplate.TypeAlias:
		if a.Keys == nil {
			return errNoKeyService
		}
		if err = a.Keys.DeleteAlias(ctx, caller(account), d.PhysicalID); errors.Is(err, keys.ErrNotFound) {
			err = nil
		}
	case stacktemplate.TypePolicy:
		if err = a.Policies.DeletePolicy(ctx, account, by, d.PhysicalID); errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	default:
		err = fmt.Errorf("rollout: resource type %q is not one Postern deploys", Clip(d.Type))
	}
	return err
}

// Read reads a deployed resource back from account, as drift detection
// compares it with what was deployed: its properties as they are now, in
// the terms of the deployed ones (want), or found false if it is gone.
func (a *Applier) Read(ctx context.Context, account string, d Deployed) (got stacktemplate.Properties, found bool, err error) {
	want, err := d.Want()
	if err != nil {
		return nil, false, err
	}
	switch w := want.(type) {
	case *stacktemplate.LogGroup:
		if a.LogGroups == nil {
			return nil, false, errNoLogStore
		}
		g, err := a.LogGroups.Group(ctx, account, d.PhysicalID)
		if errors.Is(err, logstore.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return &stacktemplate.LogGroup{LogGroupName: g.Name, RetentionInDays: g.RetentionDays, KmsKeyID: g.KMSKeyID}, true, nil
	case *stacktemplate.SessionDocument:
		text, err := a.Documents.Document(ctx, account, d.PhysicalID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		doc, err := document.Parse([]byte(text))
		if err != nil {
			return nil, true, fmt.Errorf("the stored document no longer parses: %w", err)
		}
		format := "YAML"
		if strings.HasPrefix(strings.TrimSpace(text), "{") {
			format = "JSON"
		}
		return &stacktemplate.SessionDocument{Name: w.Name, DocumentType: w.DocumentType, DocumentFormat: format, Content: doc}, true, nil
	case *stacktemplate.Key:
		if a.Keys == nil {
			return nil, false, errNoKeyService
		}
		k, err := a.Keys.Describe(ctx, caller(account), d.PhysicalID)
		if errors.Is(err, keys.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		policy, err := decodeJSONObject(k.Policy)
		if err != nil {
			return nil, true, fmt.Errorf("the key's policy: %w", err)
		}
		got := &stacktemplate.Key{
			Description: k.Description, Enabled: k.State == store.KeyEnabled, KeyPolicy: policy,
			KeySpec: w.KeySpec, KeyUsage: w.KeyUsage, PendingWindowInDays: w.PendingWindowInDays,
		}
		if k.RotationPeriod > 0 {
			got.EnableKeyRotation, got.RotationPeriodInDays = true, int(k.RotationPeriod/(24*time.Hour))
		}
		return got, true, nil
	case *stacktemplate.Alias:
		if a.Keys == nil {
			return nil, false, errNoKeyService
		}
		k, err := a.Keys.Describe(ctx, caller(account), d.PhysicalID)
		if errors.Is(err, keys.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		target := k.ID
		if strings.HasPrefix(w.TargetKeyID, "prn:") {
			target = k.ARN
		}
		return &stacktemplate.Alias{AliasName: w.AliasName, TargetKeyID: target}, true, nil
	case *stacktemplate.Policy:
		text, err := a.Policies.Policy(ctx, account, d.PhysicalID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return &stacktemplate.Policy{PolicyID: w.PolicyID, Statement: text}, true, nil
	}
	return nil, false, fmt.Errorf("rollout: resource type %q is not one Postern deploys", Clip(d.Type))
}
