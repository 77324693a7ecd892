package cwlogstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Constraint patterns from the CloudWatch Logs API reference. The patterns are
// quoted in error messages exactly as the service quotes them.
const (
	logGroupNamePattern       = `[\.\-_/#A-Za-z0-9]+`
	logGroupNameOptPattern    = `[\.\-_/#A-Za-z0-9]*`
	logStreamNamePattern      = `[^:*]*`
	logGroupIdentifierPattern = `[\w#+=/:,.@-]*`
	tagKeyPattern             = `^([\p{L}\p{Z}\p{N}_.:/=+\-@]+)$`
	tagValuePattern           = `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`
)

var (
	reLogGroupName       = regexp.MustCompile(`^` + logGroupNamePattern + `$`)
	reLogGroupNameOpt    = regexp.MustCompile(`^` + logGroupNameOptPattern + `$`)
	reLogStreamName      = regexp.MustCompile(`^` + logStreamNamePattern + `$`)
	reLogGroupIdentifier = regexp.MustCompile(`^` + logGroupIdentifierPattern + `$`)
	reTagKey             = regexp.MustCompile(tagKeyPattern)
	reTagValue           = regexp.MustCompile(tagValuePattern)
	// A KMS key ARN: arn:PARTITION:kms:REGION:ACCOUNT:key/ID.
	reKMSKeyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$`)
)

// validRetentionDays is the enum of PutRetentionPolicy's retentionInDays.
var validRetentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// decode unmarshals a request body. A body that is not a JSON object of the
// right member types is a SerializationException, which is what AWS JSON
// protocol services answer for an undeserializable request. Unknown members
// are ignored.
func decode(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{status: http.StatusBadRequest, code: "SerializationException", msg: err.Error()}
	}
	return nil
}

// violations collects constraint failures and renders them in the format the
// service uses: "2 validation errors detected: Value 'x' at 'member' failed to
// satisfy constraint: Member must ...; Value ...". CloudWatch Logs returns
// these as InvalidParameterException.
type violations []string

func (v *violations) add(value any, member, constraint string) {
	var val string
	switch x := value.(type) {
	case nil:
		val = "Value null"
	case string:
		val = fmt.Sprintf("Value '%s'", x)
	case int, int32, int64:
		val = fmt.Sprintf("Value '%d'", x)
	default:
		val = "Value"
	}
	*v = append(*v, fmt.Sprintf("%s at '%s' failed to satisfy constraint: Member must %s", val, member, constraint))
}

func (v violations) err() *apiError {
	if len(v) == 0 {
		return nil
	}
	noun := "error"
	if len(v) > 1 {
		noun = "errors"
	}
	return errInvalidParameter("%d validation %s detected: %s", len(v), noun, strings.Join(v, "; "))
}

func (v *violations) required(p any, member string) bool {
	switch x := p.(type) {
	case *string:
		if x != nil {
			return true
		}
	case *int32:
		if x != nil {
			return true
		}
	case *int64:
		if x != nil {
			return true
		}
	default:
		panic(fmt.Sprintf("required: unsupported %T", p))
	}
	v.add(nil, member, "not be null")
	return false
}

// str checks an optional string member's length (in characters) and pattern.
// A nil pointer passes; use required first for required members.
func (v *violations) str(p *string, member string, minLen, maxLen int, re *regexp.Regexp, reText string) {
	if p == nil {
		return
	}
	s := *p
	if re != nil && !re.MatchString(s) {
		v.add(s, member, "satisfy regular expression pattern: "+reText)
	}
	n := utf8.RuneCountInString(s)
	if n < minLen {
		v.add(s, member, fmt.Sprintf("have length greater than or equal to %d", minLen))
	}
	if maxLen > 0 && n > maxLen {
		v.add(s, member, fmt.Sprintf("have length less than or equal to %d", maxLen))
	}
}

func (v *violations) intRange(p *int32, member string, min, max int32) {
	if p == nil {
		return
	}
	if *p < min {
		v.add(*p, member, fmt.Sprintf("have value greater than or equal to %d", min))
	}
	if *p > max {
		v.add(*p, member, fmt.Sprintf("have value less than or equal to %d", max))
	}
}

func (v *violations) groupName(p *string, member string) {
	v.str(p, member, 1, 512, reLogGroupName, logGroupNamePattern)
}

func (v *violations) streamName(p *string, member string) {
	v.str(p, member, 1, 512, reLogStreamName, logStreamNamePattern)
}

func (v *violations) nextToken(p *string, member string) {
	v.str(p, member, 1, 0, nil, "")
}

// resolveGroupRef validates the logGroupName/logGroupIdentifier pair that read
// operations take ("You must include either logGroupIdentifier or
// logGroupName, but not both") and returns the group name.
func (s *Server) resolveGroupRef(name, ident *string) (string, *apiError) {
	switch {
	case name != nil && ident != nil:
		return "", errInvalidParameter("LogGroupName and LogGroupIdentifier are mutually exclusive parameters.")
	case name != nil:
		return *name, nil
	case ident != nil:
		return s.groupNameFromIdentifier(*ident)
	default:
		return "", errInvalidParameter("Either LogGroupName or LogGroupIdentifier must be specified.")
	}
}

// groupNameFromIdentifier accepts a log group name or a log group ARN in this
// fake's region and account, with or without the trailing ":*".
func (s *Server) groupNameFromIdentifier(id string) (string, *apiError) {
	if !strings.HasPrefix(id, "arn:") {
		return id, nil
	}
	prefix := s.groupARN("")
	name, ok := strings.CutPrefix(id, prefix)
	if !ok || name == "" {
		return "", errInvalidParameter("Invalid log group ARN: %s", id)
	}
	return strings.TrimSuffix(name, ":*"), nil
}

func (s *Server) checkKMSKey(member, arn string) *apiError {
	if !reKMSKeyARN.MatchString(arn) {
		return errInvalidParameter("Specified %s is not a valid KMS key ARN: %s", member, arn)
	}
	if s.badKMSKeys[arn] {
		return errInvalidParameter("Specified KMS key %s does not exist or is disabled.", arn)
	}
	return nil
}
