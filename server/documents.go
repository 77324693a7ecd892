package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// preferences returns the account's preferences document: the stored
// Postern-SessionManagerRunShell, or the built-in default.
func (s *Server) preferences(ctx context.Context, account string) (*document.Document, string, error) {
	d, err := s.store.GetDocument(ctx, account, DefaultDocument, 0)
	if errors.Is(err, store.ErrNotFound) {
		b, _ := document.Builtin(DefaultDocument)
		return b, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	doc, err := document.Parse([]byte(d.Content))
	if err != nil {
		// Stored documents were validated when stored; a newer Postern may
		// be stricter. Say which document is wrong.
		return nil, "", errorf(http.StatusConflict, api.CodeInvalidPreferences, "the account's preferences document %s (version %d) is no longer valid: %v; fix it with `postern prefs set -f FILE`", DefaultDocument, d.Version, err)
	}
	return doc, d.Content, nil
}

// lookupDocument finds a document by name: the account's own, else a
// built-in (including the AWS- aliases).
func (s *Server) lookupDocument(ctx context.Context, account, name string, version int) (*document.Document, store.Document, error) {
	d, err := s.store.GetDocument(ctx, account, name, version)
	if err == nil {
		doc, perr := document.Parse([]byte(d.Content))
		if perr != nil {
			return nil, d, errorf(http.StatusConflict, api.CodeInvalidDocument, "document %s (version %d) is no longer valid: %v", name, d.Version, perr)
		}
		return doc, d, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, store.Document{}, err
	}
	if b, ok := document.Builtin(name); ok && version <= 1 {
		return b, store.Document{Name: name, Version: 1, SessionType: string(b.SessionType), Description: b.Description}, nil
	}
	return nil, store.Document{}, errorf(http.StatusNotFound, api.CodeInvalidDocument, "document %q does not exist: see `postern documents ls`", name)
}

// sessionPlan is what a session start resolved to.
type sessionPlan struct {
	document    string
	sessionType string
	command     []string // empty: login shell
	// runAs is the OS user the server asks the agent to run the session
	// as: the user's runAs attribute, else the preferences'
	// runAsDefaultUser, when they enable run-as; empty when they do not
	// (the agent's default) and for port sessions, which run nothing.
	// Policies see it as context.runAs.
	runAs      string
	allowRoot  bool
	profile    string
	pipes      bool                  // run the command without a terminal
	settings   store.SessionSettings // what the server enforces; Port for port sessions
	localPort  int
	deliveries []plannedDelivery
	kmsKeyID   string // the key that seals the recording; empty: the account's default
	// inputs are the preferences in force, for planDeliveries.
	inputs document.Inputs
	// env is added to the command's environment; sessionID, if set, is
	// the session's id, chosen by its starter (Run Command stores it
	// before the start).
	env       map[string]string
	sessionID string
}

var errPipesNeedCommand = errorf(http.StatusBadRequest, api.CodeValidationError, "pipes: a session without a terminal needs a command")

// planSession applies the requested document and the account's
// preferences to a session request. It reads and checks and reaches
// nothing outside the server, so that it can run before the request's
// authorization, which needs the run-as user it resolves; the
// destinations are checked afterwards (planDeliveries).
//
// platform is the node's operating system (store.Node.OS): a Windows node
// gets a document's Windows commands and the Windows shell profile.
func (s *Server) planSession(ctx context.Context, c caller, req api.StartSessionRequest, platform string) (sessionPlan, error) {
	if req.Pipes && len(req.Command) == 0 && (req.Document == "" || document.PosternName(req.Document) == DefaultDocument) {
		return sessionPlan{}, errPipesNeedCommand
	}
	prefsDoc, _, err := s.preferences(ctx, c.Account)
	if err != nil {
		return sessionPlan{}, err
	}
	prefs, err := prefsDoc.Resolve(nil)
	if err != nil {
		return sessionPlan{}, errorf(http.StatusConflict, api.CodeInvalidPreferences, "the account's preferences: %v", err)
	}
	p := sessionPlan{document: DefaultDocument, sessionType: string(prefs.SessionType)}
	res := prefs
	// The preferences document under Session Manager's name
	// (SSM-SessionManagerRunShell) is the account's too, not the built-in
	// default: otherwise naming it would shed the account's preferences.
	if req.Document != "" && document.PosternName(req.Document) != DefaultDocument {
		doc, _, err := s.lookupDocument(ctx, c.Account, req.Document, 0)
		if err != nil {
			return sessionPlan{}, err
		}
		res, err = doc.ResolveOn(platform, req.Parameters)
		if err != nil {
			return sessionPlan{}, errorf(http.StatusBadRequest, api.CodeInvalidParameters, "document %s: %v", req.Document, err)
		}
		p.document, p.sessionType = req.Document, string(res.SessionType)
	} else if len(req.Parameters) > 0 {
		return sessionPlan{}, errorf(http.StatusBadRequest, api.CodeInvalidParameters, "%s takes no parameters", DefaultDocument)
	}
	// A Standard_Stream document brings its own preferences; the other
	// session types run under the account's.
	in := prefs.Inputs
	if res.Inputs != nil {
		in = res.Inputs
	}
	p.kmsKeyID = in.KMSKeyID
	p.settings = store.SessionSettings{
		IdleTimeout:      time.Duration(in.IdleSessionTimeout) * time.Minute,
		IdleCountsOutput: in.IdleTimeoutCountsOutput,
		MaxDuration:      time.Duration(in.MaxSessionDuration) * time.Minute,
	}
	if in.RunAsEnabled {
		p.runAs = c.User.RunAs // a per-user attribute wins, as Session Manager's SSMSessionRunAs tag
		if p.runAs == "" {
			p.runAs = in.RunAsDefaultUser
		}
		if p.runAs == "" {
			return sessionPlan{}, errorf(http.StatusConflict, api.CodeInvalidPreferences, "we couldn't start the session because runAsEnabled is true but neither runAsDefaultUser nor a runAs attribute of user %s names an OS user", c.User.Name)
		}
		p.allowRoot = in.RunAsAllowRoot
		if p.runAs == "root" && !p.allowRoot {
			return sessionPlan{}, errorf(http.StatusForbidden, api.CodeRunAsRootDenied, "we couldn't start the session as root: the preferences do not allow it (set inputs.runAsAllowRoot to true to allow root sessions)")
		}
	}
	p.inputs = *in
	switch res.SessionType {
	case document.StandardStream:
		p.command = req.Command
		if len(req.Command) == 0 {
			if req.Pipes {
				return sessionPlan{}, errPipesNeedCommand
			}
			p.profile = in.ShellProfile.Linux
			if platform == document.Windows {
				p.profile = in.ShellProfile.Windows
			}
		} else if req.Pipes {
			// `postern exec` without --tty: the command runs as a
			// NonInteractiveCommands document's would.
			p.pipes = true
			p.sessionType = string(document.NonInteractiveCommands)
		}
	case document.InteractiveCommands, document.NonInteractiveCommands:
		if len(req.Command) > 0 {
			return sessionPlan{}, errorf(http.StatusBadRequest, api.CodeInvalidParameters, "document %s runs its own command; pass parameters instead of a command", p.document)
		}
		p.command = res.Command
		p.pipes = res.SessionType == document.NonInteractiveCommands
	case document.Port:
		if len(req.Command) > 0 {
			return sessionPlan{}, errorf(http.StatusBadRequest, api.CodeInvalidParameters, "document %s forwards a port and runs no command", p.document)
		}
		p.settings.Port = &store.PortTarget{Host: res.Port.Host, Port: res.Port.PortNumber, Stdio: res.Port.Type == document.StdioForwarding, AllowLinkLocal: res.Port.AllowLinkLocal}
		// An address is refused here already; a name is checked by the
		// agent once it has resolved it.
		if ip := net.ParseIP(res.Port.Host); ip != nil && !res.Port.AllowLinkLocal {
			if why := wire.ForbiddenTarget(ip); why != "" {
				return sessionPlan{}, errorf(http.StatusForbidden, api.CodeForwardingRefused,
					"forwarding to %s (%s) is refused: it can hand out the node's credentials; a port document must set properties.allowLinkLocal to reach it", res.Port.Host, why)
			}
		}
		p.localPort = res.Port.LocalPortNumber
		// Its connections are made by the agent itself: no process runs
		// as the run-as user (which was still checked above, as before).
		p.runAs, p.allowRoot = "", false
		if res.Port.Type == document.RemoteDesktop {
			if err := s.planDesktop(ctx, c.Account, &p); err != nil {
				return sessionPlan{}, err
			}
		}
	}
	return p, nil
}

// commandDocumentType is a command document's documentType (postern run's
// AWS-RunShellScript), as Systems Manager calls it.
const commandDocumentType = "Command"

func apiDocument(d store.Document, builtin bool) api.Document {
	out := api.Document{Name: d.Name, Version: d.Version, SessionType: d.SessionType, Description: d.Description, Content: d.Content, CreatedBy: d.CreatedBy, Builtin: builtin}
	if !d.CreatedAt.IsZero() {
		t := d.CreatedAt
		out.CreatedAt = &t
	}
	return out
}

func (s *Server) handleListDocuments(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ds, err := s.store.ListDocuments(r.Context(), c.Account)
	if err != nil {
		return err
	}
	s.listing(r)
	out := []api.Document{}
	own := map[string]bool{}
	for _, d := range ds {
		own[d.Name] = true
		if d.SessionType == desktopPrefsType {
			continue // preferences, not a document to start sessions with (postern desktop preferences)
		}
		d.Content = ""
		if s.allowed(r, authz.DescribeDocuments, authz.Named("Document", c.Account, d.Name)) {
			out = append(out, apiDocument(d, false))
		}
	}
	for _, name := range document.BuiltinNames() {
		if own[name] || !s.allowed(r, authz.DescribeDocuments, authz.Named("Document", c.Account, name)) {
			continue // the account's preferences replace the built-in default
		}
		b, _ := document.Builtin(name)
		out = append(out, apiDocument(store.Document{Name: name, Version: 1, SessionType: string(b.SessionType), Description: b.Description}, true))
	}
	for _, name := range document.BuiltinCommandNames() {
		if s.allowed(r, authz.DescribeDocuments, authz.Named("Document", c.Account, name)) {
			b, _ := document.BuiltinCommand(name)
			d := apiDocument(store.Document{Name: name, Version: 1, Description: b.Description}, true)
			d.DocumentType = commandDocumentType
			out = append(out, d)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleGetDocument(w http.ResponseWriter, r *http.Request) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "version: %q must be a positive number", v)
		}
		version = n
	}
	d, err := s.getDocument(r, r.PathValue("name"), version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// getDocument authorizes and returns a document's version (0: the
// latest) by a Postern-, AWS- or SSM- name: the account's own, or a
// built-in one. SSM-SessionManagerRunShell shows the account's
// preferences, as it applies them.
func (s *Server) getDocument(r *http.Request, name string, version int) (api.Document, error) {
	c := callerOf(r)
	name = document.PosternName(name)
	if err := s.authorize(r, authz.GetDocument, authz.Named("Document", c.Account, name)); err != nil {
		return api.Document{}, err
	}
	if name == desktopPrefsName {
		return api.Document{}, errDesktopPrefsDocument
	}
	d, err := s.store.GetDocument(r.Context(), c.Account, name, version)
	if errors.Is(err, store.ErrNotFound) {
		if content, ok := document.BuiltinContent(name); ok && version <= 1 {
			b, _ := document.Builtin(name)
			return apiDocument(store.Document{Name: name, Version: 1, SessionType: string(b.SessionType), Description: b.Description, Content: content}, true), nil
		}
		if content, ok := document.BuiltinCommandContent(name); ok && version <= 1 {
			b, _ := document.BuiltinCommand(name)
			d := apiDocument(store.Document{Name: name, Version: 1, Description: b.Description, Content: content}, true)
			d.DocumentType = commandDocumentType
			return d, nil
		}
		return api.Document{}, errorf(http.StatusNotFound, api.CodeInvalidDocument, "document %q does not exist: see `postern documents ls`", name)
	}
	if err != nil {
		return api.Document{}, err
	}
	return apiDocument(d, false), nil
}

// documentWriter stores an account's documents and preferences as the
// API stores them: checked by package document, the preferences a
// Standard_Stream document. The API's handlers and the rollout (package
// rollout's Documents) both go through it.
type documentWriter struct {
	st  store.Documents
	now func() time.Time
}

func (s *Server) documents() documentWriter { return documentWriter{st: s.store, now: s.now} }

// put validates and stores a document version.
func (w documentWriter) put(ctx context.Context, account, by, name, content string) (store.Document, error) {
	doc, err := document.Parse([]byte(content))
	if err != nil {
		return store.Document{}, errorf(http.StatusBadRequest, api.CodeInvalidDocumentContent, "%s: %v", name, err)
	}
	return w.st.PutDocument(ctx, store.Document{
		Account: account, Name: name, Content: content, SessionType: string(doc.SessionType),
		Description: doc.Description, CreatedBy: by, CreatedAt: w.now(),
	})
}

// PutDocument stores a new version of a document of the account's own
// (not the preferences, whose name is reserved).
func (w documentWriter) PutDocument(ctx context.Context, account, by, name, content string) (store.Document, error) {
	if err := document.ValidName(name); err != nil {
		return store.Document{}, errorf(http.StatusBadRequest, api.CodeValidationError, "name: %v", err)
	}
	return w.put(ctx, account, by, name, content)
}

// PutPreferences stores a new version of the account's preferences.
func (w documentWriter) PutPreferences(ctx context.Context, account, by, content string) (store.Document, error) {
	doc, err := document.Parse([]byte(content))
	if err != nil {
		return store.Document{}, errorf(http.StatusBadRequest, api.CodeInvalidDocumentContent, "%v", err)
	}
	if doc.SessionType != document.StandardStream {
		return store.Document{}, errorf(http.StatusBadRequest, api.CodeInvalidDocumentContent, "sessionType: the preferences document must be Standard_Stream, not %s", doc.SessionType)
	}
	return w.put(ctx, account, by, DefaultDocument, content)
}

// Document returns the text of the latest version of one of the
// account's stored documents (store.ErrNotFound for a built-in one).
func (w documentWriter) Document(ctx context.Context, account, name string) (string, error) {
	d, err := w.st.GetDocument(ctx, account, document.PosternName(name), 0)
	return d.Content, err
}

// DeleteDocument deletes every version of one of the account's
// documents; the preferences go back to the built-in default.
func (w documentWriter) DeleteDocument(ctx context.Context, account, name string) error {
	return w.st.DeleteDocument(ctx, account, document.PosternName(name))
}

func (s *Server) handleCreateDocument(w http.ResponseWriter, r *http.Request) error {
	var req api.PutDocumentRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	d, err := s.putDocument(r, req.Name, req.Content, nil)
	if err != nil {
		return err
	}
	d.Content = ""
	writeJSON(w, http.StatusOK, apiDocument(d, false))
	return nil
}

// putDocument authorizes and stores a new version of one of the
// account's documents, for the native API and Session Manager's. check,
// if not nil, looks at the latest stored version first (store.Document{}
// for none) and may refuse.
func (s *Server) putDocument(r *http.Request, name, content string, check func(latest store.Document) error) (store.Document, error) {
	c := callerOf(r)
	if err := s.authorize(r, authz.PutDocument, authz.Named("Document", c.Account, name)); err != nil {
		return store.Document{}, err
	}
	if err := s.refuseProtected(r.Context(), c.Account, stacktemplate.TypeDocument, name); err != nil {
		return store.Document{}, err
	}
	if check != nil {
		latest, err := s.store.GetDocument(r.Context(), c.Account, document.PosternName(name), 0)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Document{}, err
		}
		if err := check(latest); err != nil {
			return store.Document{}, err
		}
	}
	return s.documents().PutDocument(r.Context(), c.Account, c.User.Name, name, content)
}

func (s *Server) handleDeleteDocument(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	name := r.PathValue("name")
	if err := s.authorize(r, authz.DeleteDocument, authz.Named("Document", c.Account, name)); err != nil {
		return err
	}
	if document.PosternName(name) == desktopPrefsName {
		// Deleting them would stop every desktop recording from reaching
		// its bucket: that takes UpdatePreferences, through their own API.
		return errDesktopPrefsDocument
	}
	if err := s.refuseProtected(r.Context(), c.Account, stacktemplate.TypeDocument, name); err != nil {
		return err
	}
	err := s.store.DeleteDocument(r.Context(), c.Account, name)
	if errors.Is(err, store.ErrNotFound) {
		if _, ok := document.Builtin(name); ok {
			return errorf(http.StatusForbidden, api.CodeValidationError, "%s is a built-in document and cannot be deleted", name)
		}
		return errorf(http.StatusNotFound, api.CodeInvalidDocument, "document %q does not exist", name)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleValidateDocument(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, authz.ValidateDocument, accountEntity(callerOf(r))); err != nil {
		return err
	}
	var req api.PutDocumentRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	res := api.ValidateResponse{Valid: true}
	if _, err := document.Parse([]byte(req.Content)); err != nil {
		res.Valid = false
		res.Errors = splitErrors(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// splitErrors lists the problems in a joined error, one per entry.
func splitErrors(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (s *Server) handleGetPreferences(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.GetPreferences, authz.Named("Document", c.Account, DefaultDocument)); err != nil {
		return err
	}
	doc, content, err := s.preferences(r.Context(), c.Account)
	if err != nil {
		return err
	}
	if content == "" {
		content, _ = document.BuiltinContent(DefaultDocument)
	}
	writeJSON(w, http.StatusOK, apiDocument(store.Document{Name: DefaultDocument, SessionType: string(doc.SessionType), Description: doc.Description, Content: content}, false))
	return nil
}

func (s *Server) handlePutPreferences(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.UpdatePreferences, authz.Named("Document", c.Account, DefaultDocument)); err != nil {
		return err
	}
	var req api.PutDocumentRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	d, err := s.putPreferences(r, req.Content)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiDocument(d, false))
	return nil
}

// putPreferences stores a new version of the account's preferences; the
// caller has authorized UpdatePreferences.
func (s *Server) putPreferences(r *http.Request, content string) (store.Document, error) {
	c := callerOf(r)
	if err := s.refuseProtected(r.Context(), c.Account, stacktemplate.TypeDocument, DefaultDocument); err != nil {
		return store.Document{}, err
	}
	return s.documents().PutPreferences(r.Context(), c.Account, c.User.Name, content)
}
