package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/postern/postern/api"
	"github.com/postern/postern/store"
)

// What a node says about itself at registration is shown to
// administrators in tables, terminals and the console, and people reach
// nodes by name. So it must be plain printable text of a sane length (a
// node must not be able to retitle, clear or colour an administrator's
// terminal, nor write their clipboard with OSC 52), and a name must lead
// to one node: a second registration under a taken name is given a name
// of its own, and says so.

// Lengths of what a node reports, in bytes: names as Session Manager's
// (the Name tag's value), tags as AWS's tag limits.
const (
	maxNodeName   = 128
	maxNodeFact   = 256 // hostname, OS, platform, agent version, IP
	maxTagKey     = 128
	maxTagValue   = 256
	maxNodeTags   = 50
	codeBadNodeID = "InvalidNodeDescription"
)

// checkPrintable refuses text that is not valid UTF-8, is longer than max
// bytes, or holds a control character or an invisible formatting one (a
// bidirectional override can make a name read as another).
func checkPrintable(field, s string, max int) error {
	if len(s) > max {
		return errorf(http.StatusBadRequest, codeBadNodeID, "%s is %d bytes long; at most %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return errorf(http.StatusBadRequest, codeBadNodeID, "%s is not valid UTF-8", field)
	}
	for i, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return errorf(http.StatusBadRequest, codeBadNodeID, "%s holds the control character %U at byte %d: only printable text is accepted", field, r, i)
		}
	}
	return nil
}

// checkRegistration checks what a registering node says about itself.
func checkRegistration(req api.RegisterRequest) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"name", req.Name, maxNodeName},
		{"hostname", req.Hostname, maxNodeFact},
		{"os", req.OS, maxNodeFact},
		{"platform", req.Platform, maxNodeFact},
		{"agentVersion", req.AgentVersion, maxNodeFact},
		{"ip", req.IP, maxNodeFact},
	} {
		if err := checkPrintable(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	if strings.HasPrefix(req.Name, "mi-") {
		return errorf(http.StatusBadRequest, codeBadNodeID, "name %q: names starting with mi- are node ids'", clip(req.Name))
	}
	if len(req.Tags) > maxNodeTags {
		return errorf(http.StatusBadRequest, codeBadNodeID, "%d tags; at most %d", len(req.Tags), maxNodeTags)
	}
	for k, v := range req.Tags {
		if k == "" {
			return errorf(http.StatusBadRequest, codeBadNodeID, "a tag has an empty key")
		}
		if err := checkPrintable("tag key "+fmt.Sprintf("%q", clip(k)), k, maxTagKey); err != nil {
			return err
		}
		if err := checkPrintable("tag "+fmt.Sprintf("%q", clip(k)), v, maxTagValue); err != nil {
			return err
		}
	}
	return nil
}

// uniqueNodeName returns name if no node of the account has it, else the
// first of name-2, name-3, ... that none has, and which node holds name.
// s.registerMu must be held, so that two registrations cannot both take
// the same free name.
func (s *Server) uniqueNodeName(ctx context.Context, account, name string) (string, string, error) {
	ns, err := s.store.ListNodes(ctx, account)
	if err != nil {
		return "", "", err
	}
	var taken []string
	holder := ""
	for _, n := range ns {
		taken = append(taken, n.Name)
		if n.Name == name {
			holder = n.ID
		}
	}
	if holder == "" {
		return name, "", nil
	}
	for i := 2; ; i++ {
		if c := fmt.Sprintf("%s-%d", name, i); !slices.Contains(taken, c) {
			return c, holder, nil
		}
	}
}

// ambiguousNodes is the error for a name that leads to several nodes.
func ambiguousNodes(s *Server, target string, match []store.Node) error {
	var b strings.Builder
	for i, n := range match {
		if i > 0 {
			b.WriteString(", ")
		}
		state := "offline"
		if s.agent(n.ID) != nil {
			state = "online"
		}
		fmt.Fprintf(&b, "%s (name %s, %s)", n.ID, n.Name, state)
	}
	return errorf(http.StatusConflict, api.CodeAmbiguousTarget, "%d nodes have the hostname %q: %s; name one by its id", len(match), target, b.String())
}
