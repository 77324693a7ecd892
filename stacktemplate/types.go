package stacktemplate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/suggest"
	"sigs.k8s.io/yaml"
)

// The resource types a template may declare.
const (
	TypeLogGroup = "AWS::Logs::LogGroup"
	TypeDocument = "AWS::SSM::Document"
	TypeKey      = "AWS::KMS::Key"
	TypeAlias    = "AWS::KMS::Alias"
	TypePolicy   = "Postern::Authz::Policy"
)

// Properties are a rendered resource's properties, every value resolved:
// one of *LogGroup, *SessionDocument, *Key, *Alias and *Policy. Their JSON
// encoding has CloudFormation's property names; it is what Resource.Hash
// is computed over and what Diff compares.
type Properties interface {
	// ResourceType is the type the properties are of (TypeLogGroup ...).
	ResourceType() string
}

// LogGroup is an AWS::Logs::LogGroup: a log group of Postern's log store
// (or of CloudWatch Logs, where the server sends logs there).
type LogGroup struct {
	LogGroupName string `json:"LogGroupName"`
	// RetentionInDays is one of CloudWatch Logs' retention values, or 0
	// when the template gives none: the events never expire.
	RetentionInDays int `json:"RetentionInDays,omitempty"`
	// KmsKeyID, if set, is the key the group's events are sealed with, as
	// written (a key id, key ARN, alias name or alias ARN).
	KmsKeyID string `json:"KmsKeyId,omitempty"`
}

// SessionDocument is an AWS::SSM::Document of DocumentType Session: a
// session document, such as the account's preferences,
// Postern-SessionManagerRunShell.
type SessionDocument struct {
	// Name is the document's Postern name: SSM-SessionManagerRunShell is
	// written as Postern-SessionManagerRunShell, its Postern name.
	Name           string `json:"Name"`
	DocumentType   string `json:"DocumentType"`   // Session
	DocumentFormat string `json:"DocumentFormat"` // JSON or YAML
	// Content is the document, parsed and validated by package document,
	// with its defaults filled in (idleSessionTimeout 20 ...).
	Content *document.Document `json:"Content"`
}

// ContentText is the document as text in its DocumentFormat, as `postern
// documents create` stores a document: package document parses it back to
// an equal Content.
func (d *SessionDocument) ContentText() string {
	b, err := json.MarshalIndent(d.Content, "", "  ")
	if err != nil {
		return "" // a parsed document always encodes
	}
	if d.DocumentFormat == "YAML" {
		if y, err := yaml.JSONToYAML(b); err == nil {
			return string(y)
		}
	}
	return string(b)
}

// Key is an AWS::KMS::Key: a key of Postern's key service.
type Key struct {
	Description string `json:"Description,omitempty"`
	Enabled     bool   `json:"Enabled"`
	// EnableKeyRotation is false unless the template says otherwise, as
	// in CloudFormation; RotationPeriodInDays is then 0.
	EnableKeyRotation    bool `json:"EnableKeyRotation"`
	RotationPeriodInDays int  `json:"RotationPeriodInDays,omitempty"`
	// KeyPolicy is the key policy, a JSON object (numbers as
	// json.Number); keys.DefaultPolicy when the template gives none. It
	// passed keys.ParsePolicy.
	KeyPolicy           map[string]any `json:"KeyPolicy"`
	KeySpec             string         `json:"KeySpec"`  // SYMMETRIC_DEFAULT
	KeyUsage            string         `json:"KeyUsage"` // ENCRYPT_DECRYPT
	PendingWindowInDays int            `json:"PendingWindowInDays"`
}

// PolicyText is the key policy as JSON text, as keys.Service.Create
// takes it.
func (k *Key) PolicyText() string {
	b, err := json.Marshal(k.KeyPolicy)
	if err != nil {
		return "" // a decoded JSON object always encodes
	}
	return string(b)
}

// Alias is an AWS::KMS::Alias: a name for a key.
type Alias struct {
	AliasName   string `json:"AliasName"`   // alias/...
	TargetKeyID string `json:"TargetKeyId"` // a key id or key ARN
}

// Policy is a Postern::Authz::Policy: a stored Cedar policy document of
// the account, as `postern policy put` stores one.
type Policy struct {
	PolicyID  string `json:"PolicyId"`
	Statement string `json:"Statement"` // Cedar, one or more policies
}

func (*LogGroup) ResourceType() string        { return TypeLogGroup }
func (*SessionDocument) ResourceType() string { return TypeDocument }
func (*Key) ResourceType() string             { return TypeKey }
func (*Alias) ResourceType() string           { return TypeAlias }
func (*Policy) ResourceType() string          { return TypePolicy }

// resourceType is what Postern knows of a resource type.
type resourceType struct {
	name  string
	props []string // the properties Postern acts on
	// unsupported are CloudFormation's other properties of the type,
	// named so that a template using one is told that Postern does not
	// act on it rather than that it misspelt something.
	unsupported []string
	attrs       []string // for !GetAtt
	refIs       string   // what !Ref gives, for messages
	// assigned: the service assigns the physical id (Env.PhysicalIDs).
	assigned bool
	// decode checks the evaluated properties and returns them with the
	// resource's physical id ("" when not known yet).
	decode func(d *decoder) (Properties, string)
	// attr returns an attribute, given the physical id.
	attr func(env *Env, physical, attr string) string
}

var resourceTypes = map[string]*resourceType{
	TypeLogGroup: {
		name:        TypeLogGroup,
		props:       []string{"LogGroupName", "RetentionInDays", "KmsKeyId"},
		unsupported: []string{"BearerTokenAuthenticationEnabled", "DataProtectionPolicy", "DeletionProtectionEnabled", "FieldIndexPolicies", "LogGroupClass", "ResourcePolicyDocument", "Tags"},
		attrs:       []string{"Arn"},
		refIs:       "name",
		decode:      decodeLogGroup,
		attr: func(env *Env, name, _ string) string {
			return ids.LogGroupARN(env.AccountID, name)
		},
	},
	TypeDocument: {
		name:        TypeDocument,
		props:       []string{"Name", "DocumentType", "DocumentFormat", "Content"},
		unsupported: []string{"Attachments", "Requires", "Tags", "TargetType", "UpdateMethod", "VersionName"},
		refIs:       "name",
		decode:      decodeDocument,
	},
	TypeKey: {
		name:        TypeKey,
		props:       []string{"Description", "Enabled", "EnableKeyRotation", "RotationPeriodInDays", "KeyPolicy", "KeySpec", "KeyUsage", "PendingWindowInDays"},
		unsupported: []string{"BypassPolicyLockoutSafetyCheck", "MultiRegion", "Origin", "Tags"},
		attrs:       []string{"Arn", "KeyId"},
		refIs:       "key id",
		assigned:    true,
		decode:      decodeKey,
		attr: func(env *Env, id, attr string) string {
			if attr == "KeyId" {
				return id
			}
			return ids.KeyARN(env.AccountID, id)
		},
	},
	TypeAlias: {
		name:   TypeAlias,
		props:  []string{"AliasName", "TargetKeyId"},
		refIs:  "alias name",
		decode: decodeAlias,
	},
	TypePolicy: {
		name:   TypePolicy,
		props:  []string{"PolicyId", "Statement"},
		refIs:  "policy id",
		decode: decodePolicy,
	},
}

func typeNames() string {
	names := make([]string, 0, len(resourceTypes))
	for n := range resourceTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func unknownType(name string) string {
	names := make([]string, 0, len(resourceTypes))
	for n := range resourceTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	if s := suggest.Closest(name, names); s != "" {
		return fmt.Sprintf("unknown resource type %s (did you mean %s?)", quoteShort(name), s)
	}
	return fmt.Sprintf("%s is not a resource type Postern has: the types there are %s", quoteShort(name), strings.Join(names, ", "))
}

// decoder reads one resource's evaluated properties.
type decoder struct {
	errs *errList
	env  *Env // nil when the account is not known (Parse)
	r    *resource
	m    *node // the evaluated Properties, a kMap; nil when there are none
	path string
}

func (d *decoder) at(name string) string { return joinKey(d.path, name) }

// get returns the property name: nil when absent or null, a kUnknown when
// not known yet.
func (d *decoder) get(name string) *node {
	if d.m == nil {
		return nil
	}
	v := d.m.get(name)
	if v == nil || v.kind == kNull {
		return nil
	}
	return v
}

func (d *decoder) missing(name, what string) {
	d.errs.at(d.r.propsAt, d.at(name), "required: %s", what)
}

// str returns a string property; ok is false when it is absent, not known
// yet, or not a string (which is reported).
func (d *decoder) str(name string) (string, bool) {
	v := d.get(name)
	if v == nil || v.kind == kUnknown {
		return "", false
	}
	s, ok := scalarText(v)
	if !ok {
		d.errs.at(v, d.at(name), "must be a string, not %s", v.describe())
	}
	return s, ok
}

func (d *decoder) integer(name string) (int, bool) {
	v := d.get(name)
	if v == nil || v.kind == kUnknown {
		return 0, false
	}
	i, ok := intValue(v)
	if !ok {
		d.errs.at(v, d.at(name), "must be a whole number, not %s", v.describe())
	}
	return i, ok
}

func (d *decoder) boolean(name string, def bool) bool {
	v := d.get(name)
	if v == nil || v.kind == kUnknown {
		return def
	}
	b, ok := boolValue(v)
	if !ok {
		d.errs.at(v, d.at(name), "must be true or false, not %s", v.describe())
		return def
	}
	return b
}

func (d *decoder) known(name string) bool {
	v := d.get(name)
	return v == nil || !hasUnknown(v)
}

// generatedName is the name CloudFormation would make up for a resource
// the template does not name: the stack's name, the logical id and a
// suffix, here derived from both so that every rendering makes the same.
// Empty when the stack is not known yet.
func (d *decoder) generatedName(max int) string {
	if d.env == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(d.env.StackName + "/" + d.r.id))
	suffix := strings.ToUpper(hex.EncodeToString(sum[:6]))
	stack, id := d.env.StackName, d.r.id
	room := max - len(suffix) - 2
	for len(stack)+len(id) > room {
		if len(stack) >= len(id) {
			stack = stack[:len(stack)-1]
		} else {
			id = id[:len(id)-1]
		}
	}
	return stack + "-" + id + "-" + suffix
}

// sameAccount reports a key reference that names another account's key:
// Postern's keys, log groups and aliases belong to one account each.
func (d *decoder) sameAccount(name, ref string) {
	if d.env == nil {
		return
	}
	rest, ok := strings.CutPrefix(ref, "prn:postern:kms:")
	if !ok {
		return
	}
	if acct, _, _ := strings.Cut(rest, ":"); acct != d.env.AccountID {
		d.errs.at(d.get(name), d.at(name), "%s is a key of account %s; a resource of account %s can only use that account's keys", quoteShort(ref), acct, d.env.AccountID)
	}
}

// retentionDays are the retentions CloudWatch Logs accepts.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// logGroupRE is CloudWatch Logs' rule for log group names.
var logGroupRE = lazyregexp.New(`^[.\-_/#A-Za-z0-9]{1,512}$`)

func decodeLogGroup(d *decoder) (Properties, string) {
	g := &LogGroup{}
	known := true
	if name, ok := d.str("LogGroupName"); ok {
		if !logGroupRE.MatchString(name) {
			d.errs.at(d.get("LogGroupName"), d.at("LogGroupName"), "%s is not a log group name: 1–512 letters, digits, '.', '-', '_', '/' and '#'", quoteShort(name))
			known = false
		}
		g.LogGroupName = name
	} else if d.get("LogGroupName") == nil {
		g.LogGroupName = d.generatedName(512)
	} else {
		known = false
	}
	if days, ok := d.integer("RetentionInDays"); ok {
		if !slices.Contains(retentionDays, days) {
			vals := make([]string, len(retentionDays))
			for i, r := range retentionDays {
				vals[i] = strconv.Itoa(r)
			}
			d.errs.at(d.get("RetentionInDays"), d.at("RetentionInDays"), "%d is not one of CloudWatch Logs' retention values (%s; leave it out to keep events forever)", days, strings.Join(vals, ", "))
		}
		g.RetentionInDays = days
	}
	if k, ok := d.str("KmsKeyId"); ok {
		if err := document.ValidKeyID(k); err != nil {
			d.errs.at(d.get("KmsKeyId"), d.at("KmsKeyId"), "%v", err)
		}
		d.sameAccount("KmsKeyId", k)
		g.KmsKeyID = k
	}
	if !known {
		return g, ""
	}
	return g, g.LogGroupName
}

var documentFormats = []string{"JSON", "YAML"}

// DocumentTypeSession is the only AWS::SSM::Document type there is in
// Postern.
const DocumentTypeSession = "Session"

func decodeDocument(d *decoder) (Properties, string) {
	doc := &SessionDocument{DocumentType: DocumentTypeSession, DocumentFormat: "JSON"}
	known := true
	switch name, ok := d.str("Name"); {
	case ok:
		// Session Manager's name of the preferences document, which
		// templates brought from AWS use, is Postern's.
		if document.PosternName(name) == document.DefaultPreferences {
			name = document.DefaultPreferences
		} else if err := document.ValidName(name); err != nil {
			d.errs.at(d.get("Name"), d.at("Name"), "%v (or %s, the account's preferences)", err, document.DefaultPreferences)
			known = false
		}
		doc.Name = name
	case d.get("Name") == nil:
		doc.Name = d.generatedName(128)
		if err := document.ValidName(doc.Name); doc.Name != "" && err != nil {
			d.errs.at(d.r.propsAt, d.at("Name"), "the name made up from the stack's, %v: give the document a Name", err)
			known = false
		}
	default:
		known = false
	}
	switch t, ok := d.str("DocumentType"); {
	case ok && t != DocumentTypeSession:
		d.errs.at(d.get("DocumentType"), d.at("DocumentType"), "%s is not supported: Postern's documents are of type %s", quoteShort(t), DocumentTypeSession)
	case d.get("DocumentType") == nil:
		d.missing("DocumentType", "without it CloudFormation makes a Command document; Postern's documents are of type Session (DocumentType: Session)")
	}
	if f, ok := d.str("DocumentFormat"); ok {
		if !slices.Contains(documentFormats, f) {
			d.errs.at(d.get("DocumentFormat"), d.at("DocumentFormat"), "%s is not one of %s", quoteShort(f), strings.Join(documentFormats, ", "))
		}
		doc.DocumentFormat = f
	}
	content := d.get("Content")
	if content == nil {
		d.missing("Content", "the session document, as an object (schemaVersion, sessionType, inputs ...)")
	} else {
		doc.Content = d.content(content, doc.Name)
	}
	if !known {
		return doc, ""
	}
	return doc, doc.Name
}

// content checks a document's Content with package document, as `postern
// documents create` would, and reports its problems at their lines.
func (d *decoder) content(n *node, name string) *document.Document {
	path := d.at("Content")
	var data []byte
	switch n.kind {
	case kUnknown:
		return nil
	case kString:
		if hasUnknown(n) {
			return nil
		}
		data = []byte(n.text)
	case kMap:
		// With values not known yet, they are left out (null), and what
		// is said about them dropped: Render checks them.
		var err error
		if data, err = json.Marshal(toAny(n)); err != nil {
			d.errs.at(n, path, "%v", err)
			return nil
		}
	default:
		d.errs.at(n, path, "must be the session document, an object (or its text), not %s", n.describe())
		return nil
	}
	doc, err := document.Parse(data)
	if err != nil {
		for _, e := range leafErrors(err) {
			msg := e.Error()
			at, p, partial := n, path, false
			if n.kind == kMap {
				if docPath, rest, ok := strings.Cut(msg, ": "); ok {
					if target, key, through, found := lookup(n, docPath); found {
						at, p, msg, partial = target, path+pathSep(docPath)+docPath, rest, through
						if key != nil && (strings.HasPrefix(rest, "unknown field") || strings.HasPrefix(rest, "duplicate field")) {
							at = key
						}
					}
				}
			}
			if partial {
				continue
			}
			d.errs.at(at, p, "%s", msg)
		}
		return nil
	}
	if name == document.DefaultPreferences && doc.SessionType != document.StandardStream {
		d.errs.at(n, path, "%s, the account's preferences, must be a %s document, not %s", name, document.StandardStream, doc.SessionType)
	}
	return doc
}

func pathSep(p string) string {
	if strings.HasPrefix(p, "[") {
		return ""
	}
	return "."
}

// leafErrors returns the errors err joins.
func leafErrors(err error) []error {
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range m.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// lookup finds the node a path of package document's form names
// (inputs.idleSessionTimeout, properties.linux.commands[2],
// parameters["a b"]) in n, or the deepest node on the way, and its key when
// the path ends at one. through says the path passes through (or ends at)
// a value not known yet; found that the path was of that form at all.
func lookup(n *node, path string) (target, key *node, through, found bool) {
	cur := n
	rest := path
	for rest != "" {
		if cur.kind == kUnknown {
			return cur, nil, true, true
		}
		var name string
		index := -1
		switch {
		case strings.HasPrefix(rest, "["):
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return n, nil, false, false
			}
			inner := rest[1:end]
			if strings.HasPrefix(inner, `"`) {
				q, err := strconv.QuotedPrefix(rest[1:])
				if err != nil {
					return n, nil, false, false
				}
				name, _ = strconv.Unquote(q)
				end = 1 + len(q)
				if end >= len(rest) || rest[end] != ']' {
					return n, nil, false, false
				}
			} else if i, err := strconv.Atoi(inner); err == nil {
				index = i
			} else {
				return n, nil, false, false
			}
			rest = rest[end+1:]
		default:
			rest = strings.TrimPrefix(rest, ".")
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name, rest = rest[:end], rest[end:]
			if name == "" || strings.ContainsAny(name, " \"") {
				return n, nil, false, false
			}
		}
		var next *node
		key = nil
		if index >= 0 && cur.kind == kList && index < len(cur.items) {
			next = cur.items[index]
		} else if index < 0 && cur.kind == kMap {
			next, key = cur.get(name), cur.keyNode(name)
		}
		if next == nil {
			return cur, nil, false, true
		}
		cur = next
	}
	return cur, key, cur.kind == kUnknown, true
}

// toAny turns an evaluated node into what encoding/json makes of JSON:
// maps, lists, strings, json.Numbers, bools and nils. Values not known yet
// are nil.
func toAny(n *node) any {
	switch n.kind {
	case kBool:
		return n.text == "true"
	case kNumber:
		return json.Number(n.text)
	case kString:
		return n.text
	case kList:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = toAny(it)
		}
		return l
	case kMap:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k.text] = toAny(n.vals[i])
		}
		return m
	}
	return nil
}

var (
	keySpecs  = []string{"SYMMETRIC_DEFAULT"}
	keyUsages = []string{"ENCRYPT_DECRYPT"}
)

// Bounds of a key's properties, as KMS has them.
const (
	minRotationDays     = 90
	maxRotationDays     = 2560
	defaultRotationDays = 365
	maxKeyDescription   = 8192
)

var keyIDRE = lazyregexp.New(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func decodeKey(d *decoder) (Properties, string) {
	k := &Key{KeySpec: keySpecs[0], KeyUsage: keyUsages[0], PendingWindowInDays: keys.DefaultDeletionDays}
	if s, ok := d.str("Description"); ok {
		if len(s) > maxKeyDescription {
			d.errs.at(d.get("Description"), d.at("Description"), "is %d bytes; the limit is %d", len(s), maxKeyDescription)
		}
		k.Description = s
	}
	k.Enabled = d.boolean("Enabled", true)
	k.EnableKeyRotation = d.boolean("EnableKeyRotation", false)
	if k.EnableKeyRotation {
		k.RotationPeriodInDays = defaultRotationDays
	}
	if days, ok := d.integer("RotationPeriodInDays"); ok {
		switch {
		case days < minRotationDays || days > maxRotationDays:
			d.errs.at(d.get("RotationPeriodInDays"), d.at("RotationPeriodInDays"), "%d is out of range %d–%d", days, minRotationDays, maxRotationDays)
		case !k.EnableKeyRotation && d.known("EnableKeyRotation"):
			d.errs.at(d.get("RotationPeriodInDays"), d.at("RotationPeriodInDays"), "a rotation period needs EnableKeyRotation: true")
		}
		k.RotationPeriodInDays = days
	}
	if s, ok := d.str("KeySpec"); ok && !slices.Contains(keySpecs, s) {
		d.errs.at(d.get("KeySpec"), d.at("KeySpec"), "%s is not supported: Postern's keys are symmetric (%s)", quoteShort(s), strings.Join(keySpecs, ", "))
	}
	if s, ok := d.str("KeyUsage"); ok && !slices.Contains(keyUsages, s) {
		d.errs.at(d.get("KeyUsage"), d.at("KeyUsage"), "%s is not supported: Postern's keys encrypt and decrypt (%s)", quoteShort(s), strings.Join(keyUsages, ", "))
	}
	if days, ok := d.integer("PendingWindowInDays"); ok {
		if days < keys.MinDeletionDays || days > keys.MaxDeletionDays {
			d.errs.at(d.get("PendingWindowInDays"), d.at("PendingWindowInDays"), "%d is out of range %d–%d", days, keys.MinDeletionDays, keys.MaxDeletionDays)
		}
		k.PendingWindowInDays = days
	}
	k.KeyPolicy = d.keyPolicy()
	if d.env == nil {
		return k, ""
	}
	return k, d.env.PhysicalIDs[d.r.id]
}

var statementRE = lazyregexp.New(`^Statement\[([0-9]+)\]: (.*)$`)

// keyPolicy checks a key's policy with package keys, as creating the key
// would.
func (d *decoder) keyPolicy() map[string]any {
	n := d.get("KeyPolicy")
	path := d.at("KeyPolicy")
	var text string
	switch {
	case n == nil:
		if d.env == nil {
			return nil
		}
		text = keys.DefaultPolicy(d.env.AccountID)
	case hasUnknown(n):
		return nil
	case n.kind == kString:
		text = n.text
	case n.kind == kMap:
		b, err := json.Marshal(toAny(n))
		if err != nil {
			d.errs.at(n, path, "%v", err)
			return nil
		}
		text = string(b)
	default:
		d.errs.at(n, path, "must be a key policy, an object (or its JSON text), not %s", n.describe())
		return nil
	}
	if _, err := keys.ParsePolicy(text); err != nil {
		msg := err.Error()
		if _, after, ok := strings.Cut(msg, "key policy: "); ok {
			msg = after
		}
		at, p := n, path
		if m := statementRE.FindStringSubmatch(msg); m != nil && n != nil && n.kind == kMap {
			if st := n.get("Statement"); st != nil && st.kind == kList {
				if i, _ := strconv.Atoi(m[1]); i < len(st.items) {
					at, p, msg = st.items[i], joinIndex(joinKey(path, "Statement"), i), m[2]
				}
			}
		}
		if at == nil {
			at = d.r.propsAt
		}
		d.errs.at(at, p, "not a key policy Postern can evaluate: %s", msg)
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		d.errs.at(n, path, "must be a JSON object: %v", err)
		return nil
	}
	return m
}

// aliasRE is KMS's rule for alias names.
var aliasRE = lazyregexp.New(`^alias/[A-Za-z0-9/_-]{1,250}$`)

func decodeAlias(d *decoder) (Properties, string) {
	a := &Alias{}
	known := true
	switch name, ok := d.str("AliasName"); {
	case ok:
		if !aliasRE.MatchString(name) || strings.HasPrefix(name, "alias/aws/") {
			d.errs.at(d.get("AliasName"), d.at("AliasName"), "%s is not an alias name: alias/ then 1–250 letters, digits, '/', '_' and '-' (and not alias/aws/..., which KMS keeps for itself)", quoteShort(name))
			known = false
		}
		a.AliasName = name
	case d.get("AliasName") == nil:
		d.missing("AliasName", "the alias, alias/ then a name")
		known = false
	default:
		known = false
	}
	switch id, ok := d.str("TargetKeyId"); {
	case ok:
		if err := document.ValidKeyID(id); err != nil {
			d.errs.at(d.get("TargetKeyId"), d.at("TargetKeyId"), "%v", err)
		} else if strings.Contains(id, "alias/") {
			d.errs.at(d.get("TargetKeyId"), d.at("TargetKeyId"), "%s is an alias: an alias points at a key id or key ARN (!Ref Key or !GetAtt Key.Arn)", quoteShort(id))
		}
		d.sameAccount("TargetKeyId", id)
		a.TargetKeyID = id
	case d.get("TargetKeyId") == nil:
		d.missing("TargetKeyId", "the key, by key id or key ARN (!Ref Key or !GetAtt Key.Arn)")
	}
	if !known {
		return a, ""
	}
	return a, a.AliasName
}

// policyIDRE is the rule for the ids of stored policies (server's
// `postern policy put`), which may not start with "system".
var policyIDRE = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// cedarPosRE finds where in a policy's text cedar-go's parser found a
// problem; it says "parse error at <input>:2:24 ...", or "<input>:2:26:
// ..." for a problem of a token.
var cedarPosRE = lazyregexp.New(`(?:parse error at )?<input>:([0-9]+):([0-9]+):? (.*)$`)

func decodePolicy(d *decoder) (Properties, string) {
	p := &Policy{}
	known := true
	switch id, ok := d.str("PolicyId"); {
	case ok:
		if !policyIDRE.MatchString(id) || strings.HasPrefix(id, "system") {
			d.errs.at(d.get("PolicyId"), d.at("PolicyId"), "%s is not a policy id: 1–128 letters, digits, '_', '.' and '-', starting with a letter or digit, and not with \"system\"", quoteShort(id))
			known = false
		}
		p.PolicyID = id
	case d.get("PolicyId") == nil:
		p.PolicyID = d.generatedName(128)
		if strings.HasPrefix(p.PolicyID, "system") {
			d.errs.at(d.r.propsAt, d.at("PolicyId"), "the id made up from the stack's name, %s, starts with \"system\", which is reserved: give the policy a PolicyId", quoteShort(p.PolicyID))
			known = false
		}
	default:
		known = false
	}
	st := d.get("Statement")
	switch {
	case st == nil:
		d.missing("Statement", "the Cedar text of the policy (permit (...) when {...};)")
	case st.kind == kUnknown:
	case st.kind != kString:
		d.errs.at(st, d.at("Statement"), "must be Cedar text, not %s", st.describe())
	default:
		p.Statement = st.text
		name := p.PolicyID
		if name == "" {
			name = d.r.id
		}
		if _, err := authz.Parse(name, st.text); err != nil {
			msg := err.Error()
			if _, after, ok := strings.Cut(msg, name+": "); ok {
				msg = after
			}
			at := *st
			if m := cedarPosRE.FindStringSubmatch(msg); m != nil && st.textLine > 0 {
				// A block scalar (Statement: |) starts on the line after
				// its key: the error's line is the template's.
				l, _ := strconv.Atoi(m[1])
				c, _ := strconv.Atoi(m[2])
				at.line, at.col = st.textLine+l-1, 0
				if st.textCol > 0 {
					at.col = st.textCol + c - 1
				}
				msg = "not a Cedar policy: " + m[3] + " (line " + m[1] + ", column " + m[2] + " of the Statement)"
			} else {
				msg = "not a Cedar policy: " + msg
			}
			d.errs.at(&at, d.at("Statement"), "%s", msg)
		}
	}
	if !known {
		return p, ""
	}
	return p, p.PolicyID
}

// checkPolicies checks the template's Cedar policies together, as an
// account's policy set holds them: no two may have the same @id.
func checkPolicies(rs []Resource, decl func(id string) *resource, errs *errList) {
	var docs []authz.Stored
	var from []string // the logical id of each of docs
	for _, r := range rs {
		p, ok := r.Properties.(*Policy)
		if !ok || p.Statement == "" {
			continue
		}
		// Before rendering, a policy's id may not be known yet; its
		// logical id names it in messages.
		id := p.PolicyID
		if id == "" {
			id = r.LogicalID
		}
		docs = append(docs, authz.Stored{ID: id, Text: p.Statement})
		from = append(from, r.LogicalID)
	}
	if len(docs) < 2 {
		return
	}
	if _, err := authz.NewPolicySet(docs); err != nil {
		for _, e := range leafErrors(err) {
			msg := e.Error()
			at := 0
			for i, doc := range docs {
				if strings.HasPrefix(msg, "authz: policy "+doc.ID+":") {
					at = i
				}
			}
			r := decl(from[at])
			errs.add(r.line, r.col, joinKey("Resources", r.id), "%s", strings.TrimPrefix(msg, "authz: "))
		}
	}
}
