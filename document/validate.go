package document

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/suggest"
)

// The forms of names and identifiers in inputs, as the services they name
// define them.
var (
	// S3's bucket naming rules (general purpose buckets).
	bucketRE = lazyregexp.New(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ipv4RE   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)
	// S3's "safe" key characters, and = which people use for partitions.
	keyPrefixRE = lazyregexp.New(`^[A-Za-z0-9!_.*'()=/-]*$`)
	// CloudWatch Logs' log group names.
	logGroupRE = lazyregexp.New(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	// KMS: key id, multi-Region key id, key ARN, alias name, alias ARN;
	// and the ARNs of Postern's own keys and aliases
	// (prn:postern:kms:ACCOUNT:key/ID), which its key service resolves
	// as it does key ids.
	kmsKeyRE = lazyregexp.New(`^(` +
		`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}` +
		`|mrk-[0-9a-f]{32}` +
		`|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-f]{32})` +
		`|alias/[A-Za-z0-9/_-]{1,250}` +
		`|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:alias/[A-Za-z0-9/_-]{1,250}` +
		// Postern's own key service's key and alias ARNs.
		`|prn:postern:kms:[0-9]{12}:key/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}` +
		`|prn:postern:kms:[0-9]{12}:alias/[A-Za-z0-9/_-]{1,250}` +
		`)$`)
	// A user name that every Unix accepts and that cannot be taken for an
	// option (-x) or a uid (1000).
	userRE = lazyregexp.New(`^[A-Za-z_][A-Za-z0-9_.@-]{0,63}$`)

	paramNameRE = lazyregexp.New(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	integerRE   = lazyregexp.New(`^-?[0-9]{1,18}$`)

	// placeholderRE matches {{ name }}, spaces inside optional. Names start
	// with a letter, digit or _, so that Go templates such as
	// docker ps --format '{{.Names}}' are left alone.
	placeholderRE = lazyregexp.New(`\{\{\s*([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*\}\}`)
	// wholeRE matches a string that is one placeholder and nothing else.
	wholeRE = lazyregexp.New(`^\s*\{\{\s*([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*\}\}\s*$`)
	// Session Manager's Parameter Store references, which Postern has no
	// Parameter Store for.
	ssmRefRE = lazyregexp.New(`\{\{\s*(ssm|ssm-secure|resolve):[^{}]*\}\}`)
)

var (
	displayTypes    = []string{"textfield", "textarea"}
	portFields      = []string{"portNumber", "type", "host", "localPortNumber", "allowLinkLocal"}
	shellFields     = []string{"commands", "runAsElevated", "separateOutputStream", "stdOutSeparatorPrefix", "stdErrSeparatorPrefix"}
	platforms       = []string{"linux", "windows", "macos"}
	commandsTop     = append(append([]string{}, platforms...), shellFields...)
	sessionTypeList = func() string {
		var s []string
		for _, t := range sessionTypes {
			s = append(s, string(t))
		}
		return strings.Join(s, ", ")
	}()
)

// Validate reports every problem with d, joined with errors.Join. Each
// names the field, the value and what it may be. Parse calls it; call it
// yourself for Documents made otherwise.
//
// Properties are checked as far as they can be before substitution: the
// placeholders must name parameters, and values without placeholders must
// already be right. Resolve checks the rest.
func (d *Document) Validate() error {
	if d == nil {
		return errors.New("no document")
	}
	v := &validator{}
	switch d.SchemaVersion {
	case SchemaVersion:
	case "":
		v.errorf("schemaVersion", "required (use %q)", SchemaVersion)
	default:
		v.errorf("schemaVersion", "%q is not supported (use %q)", d.SchemaVersion, SchemaVersion)
	}
	known := slices.Contains(sessionTypes, d.SessionType)
	switch {
	case d.SessionType == "":
		v.errorf("sessionType", "required (one of %s)", sessionTypeList)
	case !known:
		v.errorf("sessionType", "%q is not one of %s", d.SessionType, sessionTypeList)
	}

	for _, name := range sortedKeys(d.Parameters) {
		v.parameter(name, d.Parameters[name])
	}
	v.references(d)

	if !known {
		return v.err()
	}
	switch {
	case d.SessionType == StandardStream && d.Inputs == nil:
		v.errorf("inputs", "required in a Standard_Stream document")
	case d.SessionType == StandardStream:
		v.inputs(d.Inputs)
	case d.Inputs != nil:
		v.errorf("inputs", "only Standard_Stream documents have inputs; %s sessions take their preferences from the account's Standard_Stream document (Postern-SessionManagerRunShell)", d.SessionType)
	}
	switch d.SessionType {
	case StandardStream:
		if len(d.Properties) > 0 {
			v.errorf("properties", "a Standard_Stream document has no properties")
		}
	case Port:
		v.portProperties(d)
	case InteractiveCommands, NonInteractiveCommands:
		v.commandProperties(d)
	}
	return v.err()
}

type validator struct {
	errList
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errList.add(fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (v *validator) add(path string, err error) {
	if err != nil {
		v.errList.add(fmt.Errorf("%s: %w", path, err))
	}
}

// unknown reports a field that is not among known.
func (v *validator) unknown(path, key string, known []string) {
	if !v.full() {
		v.errs = append(v.errs, unknownField(path, key, known))
	}
}

func (v *validator) inputs(in *Inputs) {
	if n := in.IdleSessionTimeout; n < minIdleSessionTimeout || n > maxIdleSessionTimeout {
		v.errorf("inputs.idleSessionTimeout", "%d is out of range %d–%d", n, minIdleSessionTimeout, maxIdleSessionTimeout)
	}
	if n := in.MaxSessionDuration; n != 0 && (n < minMaxSessionDuration || n > maxMaxSessionDuration) {
		v.errorf("inputs.maxSessionDuration", "%d is out of range %d–%d (leave it empty for no limit)", n, minMaxSessionDuration, maxMaxSessionDuration)
	}
	if b := in.S3BucketName; b != "" {
		v.add("inputs.s3BucketName", ValidBucketName(b))
	}
	if p := in.S3KeyPrefix; p != "" {
		v.add("inputs.s3KeyPrefix", ValidKeyPrefix(p))
	}
	if g := in.CloudWatchLogGroupName; g != "" && !logGroupRE.MatchString(g) {
		v.errorf("inputs.cloudWatchLogGroupName", "%s is not a valid log group name: 1–512 letters, digits, '.', '-', '_', '/' and '#'", quoteShort(g))
	}
	if k := in.KMSKeyID; k != "" {
		v.add("inputs.kmsKeyId", ValidKeyID(k))
	}
	switch u := in.RunAsDefaultUser; {
	case u != "":
		v.add("inputs.runAsDefaultUser", ValidUserName(u))
	case in.RunAsEnabled:
		// Session Manager refuses sessions then; better to say so now.
		v.errorf("inputs.runAsDefaultUser", "required when runAsEnabled is true")
	}
}

func validKeyPrefix(p string) bool {
	if len(p) > 1024 || !keyPrefixRE.MatchString(p) || strings.HasPrefix(p, "/") {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(p, "/"), "/")
	for _, part := range parts {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// parameter checks the declaration of one parameter.
func (v *validator) parameter(name string, p Parameter) {
	path := joinKey("parameters", name)
	at := func(k string) string { return joinKey(path, k) }
	if !paramNameRE.MatchString(name) {
		v.errorf(path, "%s is not a valid parameter name: 1–128 letters, digits, '_', '.' and '-', starting with a letter, digit or '_'", quoteShort(name))
	}
	typ := paramType(p)
	if !slices.Contains(paramTypes, typ) {
		v.errorf(at("type"), "%q is not one of %s", p.Type, strings.Join(paramTypes, ", "))
		return
	}
	re, err := compilePattern(p.AllowedPattern)
	if err != nil {
		v.add(at("allowedPattern"), err)
	}
	if p.DisplayType != "" && !slices.Contains(displayTypes, p.DisplayType) {
		v.errorf(at("displayType"), "%q is not one of %s", p.DisplayType, strings.Join(displayTypes, ", "))
	}
	v.bounds(at, "minChars", p.MinChars, "maxChars", p.MaxChars)
	v.bounds(at, "minItems", p.MinItems, "maxItems", p.MaxItems)
	if typ != StringList {
		if p.MinItems != 0 {
			v.errorf(at("minItems"), "only a StringList parameter has items")
		}
		if p.MaxItems != 0 {
			v.errorf(at("maxItems"), "only a StringList parameter has items")
		}
	}
	for i, a := range p.AllowedValues {
		// Only the value's own form and pattern: allowedValues may be as
		// long or as many as they like.
		q := p
		q.AllowedValues, q.MinChars, q.MaxChars = nil, 0, 0
		v.add(joinIndex(at("allowedValues"), i), checkItem(q, re, a))
	}
	if p.Default != nil {
		val, err := defaultValue(p)
		if err != nil {
			v.add(at("default"), err)
		} else {
			v.add(at("default"), checkValue(p, re, val))
		}
	}
}

func (v *validator) bounds(at func(string) string, minName string, lo int, maxName string, hi int) {
	switch {
	case lo < 0:
		v.errorf(at(minName), "%d is negative", lo)
	case hi < 0:
		v.errorf(at(maxName), "%d is negative", hi)
	case hi > 0 && lo > hi:
		v.errorf(at(maxName), "%d is less than %s %d", hi, minName, lo)
	}
}

func paramType(p Parameter) string {
	if p.Type == "" {
		return String
	}
	return p.Type
}

func compilePattern(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		// Session Manager's patterns are Java's; RE2 lacks a few of its
		// constructs (lookaround, backreferences).
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid regular expression: %s: %s", se.Code, quoteShort(se.Expr))
		}
		return nil, fmt.Errorf("invalid regular expression: %v", err)
	}
	return re, nil
}

// value is a parameter's value: text, or a list for a StringList.
type value struct {
	typ  string
	text string
	list []string
}

// defaultValue converts a parameter's default, as written, to a value.
func defaultValue(p Parameter) (value, error) {
	typ := paramType(p)
	val := value{typ: typ}
	if typ == StringList {
		switch d := p.Default.(type) {
		case string:
			// A lone string is a list of one, and "" of none, as
			// hand-written documents tend to mean.
			if d != "" {
				val.list = []string{d}
			}
			return val, nil
		case []any:
			val.list = []string{}
			for i, e := range d {
				s, ok := scalarText(e)
				if !ok {
					return val, fmt.Errorf("item %d must be a string, not %s", i, describe(e))
				}
				val.list = append(val.list, s)
			}
			return val, nil
		}
		return val, fmt.Errorf("must be a list of strings for a StringList parameter, not %s", describe(p.Default))
	}
	s, ok := scalarText(p.Default)
	if !ok {
		return val, fmt.Errorf("must be a single value for a %s parameter, not %s", typ, describe(p.Default))
	}
	if n, isNum := p.Default.(json.Number); isNum && typ == Integer {
		// 8080 written as 8080.0 or 8.08e3 is still 8080.
		if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1e18 {
			s = strconv.FormatInt(int64(f), 10)
		}
	}
	val.text = s
	return val, nil
}

// scalarText returns the text of a string, number or bool, which YAML
// makes of unquoted values people mean as text.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// checkValue checks a value against its parameter's declaration.
func checkValue(p Parameter, re *regexp.Regexp, val value) error {
	if paramType(p) != StringList {
		return checkItem(p, re, val.text)
	}
	n := len(val.list)
	if p.MinItems > 0 && n < p.MinItems {
		return fmt.Errorf("has %d items, fewer than minItems %d", n, p.MinItems)
	}
	if p.MaxItems > 0 && n > p.MaxItems {
		return fmt.Errorf("has %d items, more than maxItems %d", n, p.MaxItems)
	}
	for i, s := range val.list {
		if err := checkItem(p, re, s); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	return nil
}

// checkItem checks one value, or one item of a StringList.
func checkItem(p Parameter, re *regexp.Regexp, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s contains a NUL byte", quoteShort(s))
	}
	switch paramType(p) {
	case Integer:
		if !integerRE.MatchString(s) {
			return fmt.Errorf("%s is not an integer", quoteShort(s))
		}
	case Boolean:
		if _, ok := parseBool(s); !ok {
			return fmt.Errorf("%s is not true or false", quoteShort(s))
		}
	}
	if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, s) {
		return fmt.Errorf("%s is not one of the allowedValues %s", quoteShort(s), strings.Join(p.AllowedValues, ", "))
	}
	if re != nil && !re.MatchString(s) {
		return fmt.Errorf("%s does not match allowedPattern %s", quoteShort(s), p.AllowedPattern)
	}
	n := utf8.RuneCountInString(s)
	if p.MinChars > 0 && n < p.MinChars {
		return fmt.Errorf("%s is %d characters, fewer than minChars %d", quoteShort(s), n, p.MinChars)
	}
	if p.MaxChars > 0 && n > p.MaxChars {
		return fmt.Errorf("%s is %d characters, more than maxChars %d", quoteShort(s), n, p.MaxChars)
	}
	return nil
}

// quoteShort quotes s for an error message, eliding the middle of long
// values, which would drown the message.
func quoteShort(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max / 2
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	end := len(s) - max/2
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return strconv.Quote(s[:cut]) + "…" + strconv.Quote(s[end:])
}

// references checks that every placeholder in the properties names a
// parameter.
func (v *validator) references(d *Document) {
	v.referencesIn("properties", d.Properties, d.Parameters)
}

// referencesIn checks that every placeholder in tree, found at path,
// names one of params.
func (v *validator) referencesIn(path string, tree any, params map[string]Parameter) {
	walkStrings(path, tree, func(path, s string) {
		for _, m := range ssmRefRE.FindAllString(s, -1) {
			v.errorf(path, "%s: Parameter Store references are not supported", m)
		}
		for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
			if _, ok := params[m[1]]; ok || v.full() {
				continue
			}
			msg := fmt.Sprintf("%s refers to an undefined parameter %s", m[0], m[1])
			if s := suggest.Closest(m[1], sortedKeys(params)); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			v.errorf(path, "%s", msg)
		}
	})
}

// walkStrings calls fn with every string in v and where it is.
func walkStrings(path string, v any, fn func(path, s string)) {
	switch v := v.(type) {
	case string:
		fn(path, v)
	case map[string]any:
		for _, k := range sortedKeys(v) {
			walkStrings(joinKey(path, k), v[k], fn)
		}
	case []any:
		for i, e := range v {
			walkStrings(joinIndex(path, i), e, fn)
		}
	}
}

func hasPlaceholder(v any) bool {
	found := false
	walkStrings("", v, func(_, s string) {
		found = found || placeholderRE.MatchString(s)
	})
	return found
}

func (v *validator) portProperties(d *Document) {
	props := d.Properties
	for _, k := range sortedKeys(props) {
		if !slices.Contains(portFields, k) {
			v.unknown(joinKey("properties", k), k, portFields)
		}
	}
	if _, ok := props["portNumber"]; !ok {
		v.errorf("properties.portNumber", "required in a Port document")
	}
	// What has no placeholders can be checked now, as Resolve would.
	for _, k := range portFields {
		val, ok := props[k]
		if !ok || hasPlaceholder(val) {
			continue
		}
		var err error
		switch k {
		case "portNumber":
			_, err = portNumber(val, 1)
		case "localPortNumber":
			_, err = portNumber(val, 0)
		case "type":
			_, err = forwardType(val)
		case "host":
			_, err = hostName(val)
		case "allowLinkLocal":
			_, err = boolProperty(val)
		}
		v.add(joinKey("properties", k), err)
	}
}

func (v *validator) commandProperties(d *Document) {
	props := d.Properties
	for _, k := range sortedKeys(props) {
		if !slices.Contains(commandsTop, k) {
			v.unknown(joinKey("properties", k), k, commandsTop)
		}
	}
	found := false
	if _, ok := props["linux"]; ok {
		for _, k := range shellFields {
			if _, ok := props[k]; ok {
				v.errorf(joinKey("properties", k), "cannot be used together with properties.linux (put it in there)")
			}
		}
	}
	if _, ok := props["commands"]; ok {
		found = true
		v.shell(d, "properties", props, true)
	} else {
		for _, k := range shellFields {
			if _, ok := props[k]; ok && k != "commands" {
				v.errorf(joinKey("properties", k), "goes with properties.commands, which is missing")
			}
		}
	}
	for _, p := range platforms {
		sec, ok := props[p]
		if !ok {
			continue
		}
		path := joinKey("properties", p)
		m, ok := sec.(map[string]any)
		if !ok {
			v.errorf(path, "must be an object, not %s", describe(sec))
			continue
		}
		for _, k := range sortedKeys(m) {
			if !slices.Contains(shellFields, k) {
				v.unknown(joinKey(path, k), k, shellFields)
			}
		}
		if _, ok := m["commands"]; !ok {
			v.errorf(joinKey(path, "commands"), "required")
			continue
		}
		found = true
		// Postern runs Linux commands only, so only they are read as sh.
		v.shell(d, path, m, p == "linux")
	}
	if !found {
		v.errorf("properties", "a %s document needs commands: properties.linux.commands (or properties.commands)", d.SessionType)
	}
}

// shell checks a section of shell properties: commands, runAsElevated and
// the rest. sh says whether its commands are for sh.
func (v *validator) shell(d *Document, path string, m map[string]any, sh bool) {
	cpath := joinKey(path, "commands")
	lines, err := commandLines(m["commands"])
	if err != nil {
		v.add(cpath, err)
	} else if sh {
		if _, err := buildScript(lines, nil); err != nil {
			v.add(cpath, err)
		}
	}
	for _, k := range []string{"runAsElevated", "separateOutputStream"} {
		if val, ok := m[k]; ok && !hasPlaceholder(val) {
			_, err := boolProperty(val)
			v.add(joinKey(path, k), err)
		}
	}
	for _, k := range []string{"stdOutSeparatorPrefix", "stdErrSeparatorPrefix"} {
		if val, ok := m[k]; ok {
			if _, isStr := val.(string); !isStr {
				v.errorf(joinKey(path, k), "must be a string, not %s", describe(val))
			}
		}
	}
}

// commandLines returns commands, a string or a list of strings, as lines.
func commandLines(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, errors.New("empty")
		}
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, errors.New("empty")
		}
		lines := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d must be a string, not %s", i, describe(e))
			}
			lines[i] = s
		}
		return lines, nil
	}
	return nil, fmt.Errorf("must be a string or a list of strings, not %s", describe(v))
}

func boolProperty(v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case string:
		if b, ok := parseBool(v); ok {
			return b, nil
		}
	}
	return false, fmt.Errorf("must be true or false, not %s", describe(v))
}

// portNumber returns a port number property, a number or a string of
// digits, in lo–65535.
func portNumber(v any, lo int) (int, error) {
	var n int
	switch v := v.(type) {
	case string:
		if !allDigits(v) || len(v) > 5 {
			return 0, fmt.Errorf("%s is not a port number", quoteShort(v))
		}
		n, _ = strconv.Atoi(v)
	case json.Number:
		var ok bool
		if n, ok = wholeNumber(v); !ok {
			return 0, fmt.Errorf("%s is not a port number", v)
		}
	default:
		return 0, fmt.Errorf("must be a port number, not %s", describe(v))
	}
	if n < lo || n > 65535 {
		return 0, fmt.Errorf("%d is out of range %d–65535", n, lo)
	}
	return n, nil
}

func forwardType(v any) (string, error) {
	switch v {
	case nil, "":
		return StdioForwarding, nil
	case LocalPortForwarding, RemoteDesktop:
		return v.(string), nil
	}
	return "", fmt.Errorf("%s is not supported (use %q, %q for a remote desktop in the browser, or leave it out to forward one connection over stdin and stdout)", describe(v), LocalPortForwarding, RemoteDesktop)
}

// hostName returns a host to forward to: a DNS name or an IP address, or ""
// for the node itself.
func hostName(v any) (string, error) {
	var s string
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		s = v
	default:
		return "", fmt.Errorf("must be a host name or address, not %s", describe(v))
	}
	if s == "" || net.ParseIP(s) != nil {
		return s, nil
	}
	if len(s) > 253 {
		return "", fmt.Errorf("%s is not a host name or address: longer than 253 characters", quoteShort(s))
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !validLabel(label) {
			return "", fmt.Errorf("%s is not a host name or address", quoteShort(s))
		}
	}
	return s, nil
}

// validLabel reports whether s is a DNS label: 1–63 letters, digits,
// hyphens and (as names in the wild have them) underscores, not starting or
// ending with a hyphen.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
