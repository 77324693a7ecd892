package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"sync"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/delivery"
	"github.com/postern/postern/envelope"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// Recordings at rest are sealed: each session's journal is encrypted with a
// key of its own, derived from
//
//   - a data key from the key service, made with the preferences' kmsKeyId
//     (or the account's default key) for the user who starts the session,
//     whom the key's policy must allow kms:GenerateDataKey, and stored
//     wrapped in the journal's header with its encryption context; and
//   - the session's shred key, 32 random bytes kept only in the metadata
//     store, which `postern logs delete` erases: after that no copy of the
//     recording, wherever it went, can be decrypted, while the key it was
//     made with goes on serving other sessions.
//
// The server reads journals (to replay, deliver, recover) as the recorder,
// service "sessions.postern", which the key's policy must let decrypt: a
// session whose key does not is refused at start, not discovered at its
// end.

// SealingKeys is what sealing needs of the key service.
type SealingKeys interface {
	DefaultKey(ctx context.Context, account string) (string, error)
	Authorize(ctx context.Context, c keys.Caller, ref, action string, ec keys.EncryptionContext) error
	GenerateDataKey(ctx context.Context, c keys.Caller, ref string, ec keys.EncryptionContext) (plaintext, wrapped []byte, err error)
	Decrypt(ctx context.Context, c keys.Caller, wrapped []byte, ec keys.EncryptionContext) ([]byte, error)
}

// ErrShredded is a session whose shred key was erased.
var ErrShredded = errors.New("the session was deleted: its recordings cannot be decrypted")

func recorder(account string) keys.Caller {
	return keys.Caller{Account: account, Service: keys.RecorderService}
}

// journalKeys caches the keys of sessions' journals, so that the relay,
// deliveries and replays do not unwrap a data key for every read.
type journalKeys struct {
	mu sync.Mutex // guards m
	m  map[string]cipher.AEAD
}

// maxJournalKeys bounds the cache; an evicted key is unwrapped again when
// needed.
const maxJournalKeys = 4096

func (jk *journalKeys) get(id string) cipher.AEAD {
	jk.mu.Lock()
	defer jk.mu.Unlock()
	return jk.m[id]
}

func (jk *journalKeys) put(id string, a cipher.AEAD) {
	jk.mu.Lock()
	defer jk.mu.Unlock()
	if jk.m == nil {
		jk.m = make(map[string]cipher.AEAD)
	}
	if len(jk.m) >= maxJournalKeys {
		for k := range jk.m { // any one: they are all cheap to get back
			delete(jk.m, k)
			break
		}
	}
	jk.m[id] = a
}

func (jk *journalKeys) forget(id string) {
	jk.mu.Lock()
	delete(jk.m, id)
	jk.mu.Unlock()
}

// forgetAll empties the cache (another server shredded a session's key).
func (jk *journalKeys) forgetAll() {
	jk.mu.Lock()
	jk.m = nil
	jk.mu.Unlock()
}

// sealingContext is the encryption context of a session's data key.
func sealingContext(sess store.Session) keys.EncryptionContext {
	return keys.EncryptionContext{"postern:account": sess.Account, "postern:session": sess.ID}
}

// journalAEAD derives a journal's key from the data key and the shred key.
func journalAEAD(dataKey, shredKey []byte, sess store.Session) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, dataKey, shredKey, "postern journal "+sess.Account+"/"+sess.ID, 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealSession makes the key of a new session's journal, as the user c who
// starts it, with keyRef (the preferences' kmsKeyId, or "" for the
// account's default key). It sets sess.ShredKey. Without a key service,
// journals are not sealed (nil, nil, nil).
func (s *Server) sealSession(ctx context.Context, c caller, sess *store.Session, keyRef string) (*recording.Sealed, cipher.AEAD, error) {
	ks := s.cfg.Keys
	if ks == nil {
		return nil, nil, nil
	}
	if keyRef == "" {
		var err error
		if keyRef, err = ks.DefaultKey(ctx, c.Account); err != nil {
			return nil, nil, err
		}
	}
	ec := sealingContext(*sess)
	dk, wrapped, err := ks.GenerateDataKey(ctx, s.keyCaller(ctx, c), keyRef, ec)
	if err != nil {
		return nil, nil, refuseForKey(keyRef, err)
	}
	if _, err := ks.Decrypt(ctx, recorder(c.Account), wrapped, ec); err != nil {
		return nil, nil, errorf(http.StatusForbidden, api.CodeKMSKeyNotUsable,
			"we couldn't start the session because the key %s does not let Postern's recorder read the recording: its key policy must allow service %s kms:Decrypt (%v)", keyRef, keys.RecorderService, err)
	}
	shred := make([]byte, 32)
	rand.Read(shred)
	aead, err := journalAEAD(dk, shred, *sess)
	if err != nil {
		return nil, nil, err
	}
	arn, _ := keys.WrappedKeyARN(c.Account, wrapped)
	sess.ShredKey = shred
	s.journalKeys.put(sess.ID, aead)
	return &recording.Sealed{KeyARN: arn, WrappedKey: wrapped, Context: ec}, aead, nil
}

// refuseForKey explains why a session cannot be sealed with keyRef.
func refuseForKey(keyRef string, err error) error {
	status := http.StatusConflict
	switch {
	case errors.Is(err, keys.ErrAccessDenied):
		status = http.StatusForbidden
	case errors.Is(err, keys.ErrNotFound):
		status = http.StatusNotFound
	}
	return errorf(status, api.CodeKMSKeyNotUsable, "we couldn't start the session because the key %s (kmsKeyId) cannot encrypt it: %v", keyRef, err)
}

// journalKey returns the key of a session's journal for the server's own
// reading, or nil for a journal in the clear.
func (s *Server) journalKey(ctx context.Context, account, id string) (cipher.AEAD, error) {
	if a := s.journalKeys.get(id); a != nil {
		return a, nil
	}
	return s.unsealJournal(ctx, recorder(account), account, id, true)
}

// readerJournalKey returns the key of a session's journal for a user who
// wants to read it: the key's policy must let them decrypt.
func (s *Server) readerJournalKey(ctx context.Context, c caller, id string) (cipher.AEAD, error) {
	return s.unsealJournal(ctx, s.keyCaller(ctx, c), c.Account, id, false)
}

func (s *Server) unsealJournal(ctx context.Context, kc keys.Caller, account, id string, cache bool) (cipher.AEAD, error) {
	gen := s.configGen.Load() // a shredding after this: not cached
	if err := s.fetchJournal(ctx, account, id); err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	meta, err := recording.ReadJournalMeta(s.journalPath(account, id))
	if err != nil {
		return nil, err
	}
	if meta.Sealed == nil {
		return nil, nil
	}
	if s.cfg.Keys == nil {
		return nil, fmt.Errorf("session %s: its recording is encrypted and this server has no key service", id)
	}
	sess, err := s.store.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.ShredKey == nil {
		return nil, fmt.Errorf("session %s: %w", id, ErrShredded)
	}
	dk, err := s.cfg.Keys.Decrypt(ctx, kc, meta.Sealed.WrappedKey, meta.Sealed.Context)
	if err != nil {
		return nil, fmt.Errorf("session %s: unwrap its recording's key: %w", id, err)
	}
	aead, err := journalAEAD(dk, sess.ShredKey, sess)
	if err != nil {
		return nil, err
	}
	if cache && s.configGen.Load() == gen {
		s.journalKeys.put(id, aead)
	}
	return aead, nil
}

// handleDeleteLogs deletes a session's logs on request (a deletion request,
// a secret typed where it should not have been): it erases the session's
// shred key first, which makes every copy of its sealed recording
// unreadable wherever it is, then removes what it can: the journal and the
// session's built-in log streams (and their words in the index). Copies
// delivered outside Postern are listed for their owners.
func (s *Server) handleDeleteLogs(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ctx := r.Context()
	sess, err := s.session(r, authz.DeleteSessionLogs, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.Active() {
		return errorf(http.StatusConflict, api.CodeSessionActive, "session %s is still running: terminate it first", sess.ID)
	}
	if s.handingOver(sess.ID) {
		return errorf(http.StatusConflict, api.CodeLateOutputArriving, "session %s's node is handing over what it printed after the session ended: try again once that is recorded", sess.ID)
	}
	ds, err := s.store.ListDeliveries(ctx, sess.Account, sess.ID)
	if err != nil {
		return err
	}
	out := api.DeleteLogsResult{SessionID: sess.ID}
	for _, d := range ds {
		if d.Status != store.DeliveryDelivered {
			return errorf(http.StatusConflict, api.CodeDeliveryPending, "session %s's %s is still owed to %s (%s): wait until it is delivered, or it would be lost half-way", sess.ID, d.Artifact, d.Destination, d.Status)
		}
		if d.Destination != ownLogs && d.Destination != "logs" {
			out.Elsewhere = append(out.Elsewhere, d.Location)
		}
	}
	meta, err := recording.ReadJournalMeta(s.journalPath(sess.Account, sess.ID))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := s.store.ShredSession(ctx, sess.Account, sess.ID); err != nil {
		return err
	}
	s.journalKeys.forget(sess.ID)
	// The other servers sharing the database drop the keys they hold
	// too: a copy of the journal there is unreadable from now on.
	s.configChanged()
	if rl := s.relays.Get(sess.ID); rl != nil { // an ended session's relay lingers a while
		rl.ForgetShredKey()
	}
	out.Shredded = meta.Sealed != nil
	if err := os.Remove(s.journalPath(sess.Account, sess.ID)); err == nil {
		out.JournalRemoved = true
	} else if !errors.Is(err, os.ErrNotExist) {
		s.logf("server: session %s: removing its journal: %v", sess.ID, err)
	}
	if rs := s.cfg.Recordings; rs != nil {
		// Shredded already: what is left there cannot be read, and the
		// next delete removes it.
		if err := rs.Delete(ctx, sess.Account, sess.ID); err != nil {
			s.logf("server: session %s: removing its journal from object storage: %v", sess.ID, err)
		} else {
			out.JournalRemoved = true
		}
	}
	if ls := s.cfg.LogStore; ls != nil {
		if out.LogStreamsDeleted, err = ls.DeleteStreams(ctx, sess.Account, sess.ID); err != nil {
			s.logf("server: session %s: deleting its log streams: %v", sess.ID, err)
		}
	}
	s.logf("server: %s deleted the logs of session %s (shredded; journal removed %v; %d log streams deleted; elsewhere: %v)",
		c.User.Name, sess.ID, out.JournalRemoved, out.LogStreamsDeleted, out.Elsewhere)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// artifactKey derives the key of an artifact that leaves Postern in an
// envelope: from the session's data key and its shred key, so that deleting
// the session's logs makes every copy unreadable.
func artifactKey(dataKey, shredKey []byte, account, id, artifact string) ([]byte, error) {
	return hkdf.Key(sha256.New, dataKey, shredKey, "postern artifact "+account+"/"+id+"/"+artifact, 32)
}

// sessionDataKey unwraps a session's data key as kc, and returns it with
// the session's shred key.
func (s *Server) sessionDataKey(ctx context.Context, kc keys.Caller, account, id string, wrapped []byte, ec keys.EncryptionContext) (dk, shred []byte, err error) {
	if s.cfg.Keys == nil {
		return nil, nil, errors.New("this server has no key service")
	}
	sess, err := s.store.GetSession(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if sess.Account != account {
		return nil, nil, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	if sess.ShredKey == nil {
		return nil, nil, fmt.Errorf("session %s: %w", id, ErrShredded)
	}
	if ec["postern:session"] != id || ec["postern:account"] != account {
		return nil, nil, fmt.Errorf("session %s: the key's encryption context is another session's", id)
	}
	dk, err = s.cfg.Keys.Decrypt(ctx, kc, wrapped, ec)
	if err != nil {
		return nil, nil, fmt.Errorf("session %s: unwrap its key: %w", id, err)
	}
	return dk, sess.ShredKey, nil
}

// envelopeWriter starts the envelope of a delivery's artifact.
func (s *Server) envelopeWriter(ctx context.Context, w io.Writer, dl store.Delivery) (*envelope.Writer, error) {
	meta, err := recording.ReadJournalMeta(s.journalPath(dl.Account, dl.SessionID))
	if err != nil {
		return nil, err
	}
	if meta.Sealed == nil {
		return nil, fmt.Errorf("session %s: its recording was not sealed, so it has no key to encrypt its artifacts with", dl.SessionID)
	}
	dk, shred, err := s.sessionDataKey(ctx, recorder(dl.Account), dl.Account, dl.SessionID, meta.Sealed.WrappedKey, meta.Sealed.Context)
	if err != nil {
		return nil, err
	}
	key, err := artifactKey(dk, shred, dl.Account, dl.SessionID, dl.Artifact)
	if err != nil {
		return nil, err
	}
	return envelope.NewWriter(w, envelope.Header{
		Account: dl.Account, SessionID: dl.SessionID, Artifact: dl.Artifact,
		KeyARN: meta.Sealed.KeyARN, WrappedKey: meta.Sealed.WrappedKey, Context: meta.Sealed.Context,
	}, key)
}

// archiveEnvelope seals an organization's archive copy of an artifact: a
// fresh data key made with the archive's key by the session's account's
// recorder (the archive key's policy must let it: aws:SourceOrgID), and
// the artifact key derived from it alone, so that deleting the session's
// logs in its account leaves the copy readable to the archive.
func (s *Server) archiveEnvelope(ctx context.Context, w io.Writer, dl store.Delivery, t delivery.ArchiveTarget) (*envelope.Writer, error) {
	return s.sealForArchive(ctx, w, t, dl.Account, dl.SessionID, dl.Artifact)
}

// sealForArchive starts an archive copy of account's artifact id (a
// session's, or a batch of its audit trail) on w.
func (s *Server) sealForArchive(ctx context.Context, w io.Writer, t delivery.ArchiveTarget, account, id, artifact string) (*envelope.Writer, error) {
	ks := s.cfg.Keys
	if ks == nil {
		return nil, errors.New("this server has no key service, which the organization's archive needs")
	}
	ec := archiveContext(t.Org, account, id, artifact)
	dk, wrapped, err := ks.GenerateDataKey(ctx, recorder(account), t.KeyARN, ec)
	if err != nil {
		return nil, fmt.Errorf("sealing the archive copy with %s: %w", t.KeyARN, err)
	}
	key, err := archiveKey(dk, account, id, artifact)
	if err != nil {
		return nil, err
	}
	return envelope.NewWriter(w, envelope.Header{
		Account: account, SessionID: id, Artifact: artifact,
		KeyARN: t.KeyARN, WrappedKey: wrapped, Context: ec, Archive: t.Org,
	}, key)
}

// archiveContext is the encryption context of an archive copy's data key.
func archiveContext(org, account, id, artifact string) keys.EncryptionContext {
	return keys.EncryptionContext{"postern:archive": org, "postern:account": account, "postern:session": id, "postern:artifact": artifact}
}

// archiveKey derives an archive copy's key from its data key.
func archiveKey(dataKey []byte, account, id, artifact string) ([]byte, error) {
	return hkdf.Key(sha256.New, dataKey, nil, "postern archive "+account+"/"+id+"/"+artifact, 32)
}

// unwrapArchiveKey gives a reader the key of an archive copy, if the
// archive key's policy lets them decrypt with it.
func (s *Server) unwrapArchiveKey(ctx context.Context, c caller, req api.ArchiveKeyRequest) ([]byte, error) {
	if s.cfg.Keys == nil {
		return nil, errors.New("this server has no key service")
	}
	want := archiveContext(req.Context["postern:archive"], req.Account, req.SessionID, req.Artifact)
	if !maps.Equal(want, keys.EncryptionContext(req.Context)) {
		return nil, errors.New("the copy's header does not match its encryption context")
	}
	dk, err := s.cfg.Keys.Decrypt(ctx, s.keyCaller(ctx, c), req.WrappedKey, want)
	if err != nil {
		return nil, err
	}
	return archiveKey(dk, req.Account, req.SessionID, req.Artifact)
}

// handleArtifactKey gives a reader the key of an artifact's envelope, for
// `postern logs decrypt`: the key's policy must let them decrypt, and the
// session must not have been deleted.
func (s *Server) handleArtifactKey(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var req api.ArtifactKeyRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	switch req.Artifact {
	case "log", "cast", "guac", "json":
	default:
		return errorf(http.StatusBadRequest, api.CodeValidationError, "artifact: %q must be log, cast, guac or json", req.Artifact)
	}
	if _, err := s.session(r, authz.GetSessionLogs, id); err != nil {
		return err
	}
	dk, shred, err := s.sessionDataKey(r.Context(), s.keyCaller(r.Context(), c), c.Account, id, req.WrappedKey, req.Context)
	if errors.Is(err, ErrShredded) {
		return errorf(http.StatusGone, api.CodeLogDeleted, "session %s's logs were deleted (postern logs delete): they cannot be decrypted", id)
	}
	if err != nil {
		return keyError(err)
	}
	key, err := artifactKey(dk, shred, c.Account, id, req.Artifact)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ArtifactKey{Key: key})
	return nil
}
