// Package rollout deploys a stack set's template into an account, as
// CloudFormation StackSets deploys a stack instance: the resources a
// template renders to (package stacktemplate) are made to exist, as
// rendered, in the account, each with the same code the API's own
// handlers use (the log store, the documents and policies as the server
// validates and stores them, the key service); reads them back for drift
// detection; and removes them.
//
// Its parts get what they act on as small interfaces (Applier's fields),
// never the server. Run goes through accounts with an operation's
// preferences (how many at a time, how many may fail); Protection tells an
// API handler that a resource it is about to change belongs to a stack
// set that protects it.
//
// Applying is idempotent: a resource that is already as rendered is left
// alone (no new document version, no key policy written), so deploying
// twice changes nothing the second time.
package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/document"
	"github.com/postern/postern/stacktemplate"
)

// ExecutionRole is the name the rollout acts under in an account: the
// principal the key service sees (an administrator of the account, as
// StackSets' execution role is) and, as "stackset/NAME", who documents
// and policies say changed them.
const ExecutionRole = "StackSetExecutionRole"

// Deployed is a resource as an instance deployed it: what the instance
// keeps to update it, remove it, check it for drift, and protect it.
type Deployed struct {
	LogicalID      string `json:"logicalId"`
	Type           string `json:"type"`
	PhysicalID     string `json:"physicalId"`
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
	Protected      bool   `json:"protected,omitempty"`
	Hash           string `json:"hash"`
	// Properties are the rendered properties deployed, as package
	// stacktemplate encodes them: what drift is measured against.
	Properties json.RawMessage `json:"properties"`
}

// Record returns what an instance keeps of a rendered resource once it
// is deployed.
func Record(r stacktemplate.Resource) (Deployed, error) {
	b, err := json.Marshal(r.Properties)
	if err != nil {
		return Deployed{}, fmt.Errorf("%s: encoding its properties: %w", r.LogicalID, err)
	}
	return Deployed{
		LogicalID: r.LogicalID, Type: r.Type, PhysicalID: r.PhysicalID, DeletionPolicy: r.DeletionPolicy,
		Protected: r.Protected, Hash: r.Hash, Properties: b,
	}, nil
}

// Retained reports whether the resource stays in the account when it
// leaves the template or its instance is removed.
func (d Deployed) Retained() bool { return d.DeletionPolicy == "Retain" }

// Want decodes the properties the resource was deployed with.
func (d Deployed) Want() (stacktemplate.Properties, error) {
	return DecodeProperties(d.Type, d.Properties)
}

// DecodeProperties decodes properties of type typ as Record encoded them.
func DecodeProperties(typ string, raw []byte) (stacktemplate.Properties, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // key policies keep their numbers as written
	dec.DisallowUnknownFields()
	var p stacktemplate.Properties
	switch typ {
	case stacktemplate.TypeLogGroup:
		p = &stacktemplate.LogGroup{}
	case stacktemplate.TypeKey:
		p = &stacktemplate.Key{}
	case stacktemplate.TypeAlias:
		p = &stacktemplate.Alias{}
	case stacktemplate.TypePolicy:
		p = &stacktemplate.Policy{}
	case stacktemplate.TypeDocument:
		// The document itself goes through package document, which
		// fills in its defaults as when it was rendered.
		var d struct {
			Name           string          `json:"Name"`
			DocumentType   string          `json:"DocumentType"`
			DocumentFormat string          `json:"DocumentFormat"`
			Content        json.RawMessage `json:"Content"`
		}
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("rollout: %s properties: %w", typ, err)
		}
		doc, err := document.Parse(d.Content)
		if err != nil {
			return nil, fmt.Errorf("rollout: %s properties: Content: %w", typ, err)
		}
		return &stacktemplate.SessionDocument{Name: d.Name, DocumentType: d.DocumentType, DocumentFormat: d.DocumentFormat, Content: doc}, nil
	default:
		return nil, fmt.Errorf("rollout: resource type %q is not one a template has", Clip(typ))
	}
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("rollout: %s properties: %w", typ, err)
	}
	return p, nil
}

// DecodeDeployed decodes an instance's resources as it keeps them (a JSON
// list of Deployed); empty text is none.
func DecodeDeployed(text string) ([]Deployed, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var ds []Deployed
	if err := json.Unmarshal([]byte(text), &ds); err != nil {
		return nil, fmt.Errorf("rollout: an instance's resources: %w", err)
	}
	return ds, nil
}

// EncodeDeployed is the text an instance keeps its resources as.
func EncodeDeployed(ds []Deployed) (string, error) {
	if len(ds) == 0 {
		return "", nil
	}
	b, err := json.Marshal(ds)
	return string(b), err
}

// Clip shortens what a caller sent for quoting in a message: at most 80
// bytes, cut at a character's start.
func Clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	cut := 80
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
