package runcommand

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/store"
)

// Routes are the API's routes, for the server's table.
func (s *Service) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "POST " + api.PathCommands, Action: authz.SendCommand, Handler: s.handleSend},
		{Pattern: "GET " + api.PathCommands, Action: authz.ListCommands, Handler: s.handleList},
		{Pattern: "GET " + api.PathCommands + "/{id}", Action: authz.ListCommands, Handler: s.handleGet},
		{Pattern: "POST " + api.PathCommands + "/{id}/cancel", Action: authz.CancelCommand, Handler: s.handleCancel},
	}
}

func commandEntity(c store.Command) authz.Entity { return authz.Command(c.Account, c.ID, c.Owner) }

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	if err := s.AuthorizeRequest(r, authz.SendCommand, authz.AccountEntity(c.Account)); err != nil {
		return err
	}
	var req api.SendCommandRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	id, err := s.Send(r.Context(), c.Account, c.User.Name, req)
	if err != nil {
		return err
	}
	cmd, invs, err := s.Command(r.Context(), c.Account, id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, APICommand(cmd, invs))
	return nil
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	q := r.URL.Query()
	f := store.CommandFilter{Account: c.Account}
	switch q.Get("state") {
	case "", "all":
	case "active":
		t := true
		f.Active = &t
	case "history":
		t := false
		f.Active = &t
	default:
		return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, "state: %q must be active or history", clip(q.Get("state")))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, "limit: %q is not a number", clip(v))
		}
		f.Limit = n
	}
	// A listing shows only what the caller may see, command by command
	// below: none at all is an answer too.
	c.Checked()
	cs, err := s.Store.ListCommands(r.Context(), f)
	if err != nil {
		return err
	}
	out := []api.Command{}
	for _, cmd := range cs {
		if s.AuthorizeRequest(r, authz.ListCommands, commandEntity(cmd)) == nil {
			out = append(out, APICommand(cmd, nil))
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// command loads a command of the caller's account and checks action on
// it. Commands of other accounts do not exist, as far as the caller can
// tell.
func (s *Service) command(r *http.Request, action authz.Action) (store.Command, error) {
	c := httpapi.CallerOf(r)
	id := r.PathValue("id")
	cmd, err := s.Store.GetCommand(r.Context(), c.Account, id)
	if errors.Is(err, store.ErrNotFound) {
		c.Checked() // nothing to authorize: it does not exist
		return cmd, httpapi.Errorf(http.StatusNotFound, api.CodeInvalidCommandID, "command %s does not exist: see `postern run ls`", clip(id))
	}
	if err != nil {
		return cmd, err
	}
	return cmd, s.AuthorizeRequest(r, action, commandEntity(cmd))
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	cmd, err := s.command(r, authz.ListCommands)
	if err != nil {
		return err
	}
	invs, err := s.Store.ListCommandInvocations(r.Context(), cmd.Account, cmd.ID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, APICommand(cmd, invs))
	return nil
}

func (s *Service) handleCancel(w http.ResponseWriter, r *http.Request) error {
	cmd, err := s.command(r, authz.CancelCommand)
	if err != nil {
		return err
	}
	cmd, err = s.Cancel(r.Context(), cmd.Account, cmd.ID, httpapi.CallerOf(r).User.Name)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, APICommand(cmd, nil))
	return nil
}
