package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/postern/postern/logger"
)

// Configuration that servers cache (accounts' parsed policies, their
// places in organizations, sessions' journal keys, which a shredding
// voids, and the metric filters every write of a log group is counted
// by) changes on one server at a time. Servers
// sharing a database learn of each other's changes through one stamp in
// the store, the cursor configCursor: a change writes a new random stamp,
// and every server reads it every configPoll and drops its caches when
// it moved. So a change reaches every server within configPoll (plus a
// read's round trip); until then a server decides with what it had.

// configCursor names the stamp.
const configCursor = "config-changed"

// configPoll is how often a server reads the stamp: the bound on how
// long another server's change takes to reach this one.
const configPoll = time.Second

// configChanged drops this server's caches and tells the others, after
// a change of policies, organizations or metric filters, or a shredding,
// here.
func (s *Server) configChanged() {
	s.forgetConfig()
	var b [8]byte
	rand.Read(b[:])
	stamp := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	s.configSeen.Store(stamp)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	if err := s.store.SetCursor(ctx, configCursor, stamp); err != nil {
		s.logf("server: telling the other servers of a configuration change: %v (they see it at their next change or restart)", err)
	}
}

// forgetConfig drops every cached policy set, organization place and
// journal key. A load that began before (policies) does not install what
// it read.
func (s *Server) forgetConfig() {
	s.configGen.Add(1)
	s.policyCache.mu.Lock()
	s.policyCache.sets = nil
	s.policyCache.mu.Unlock()
	s.places.forget()
	s.journalKeys.forgetAll()
}

// watchConfig reads the stamp every configPoll until ctx ends, and drops
// the caches when another server moved it.
func (s *Server) watchConfig(ctx context.Context) {
	t := time.NewTicker(configPoll)
	defer t.Stop()
	logf := logger.Throttled(s.logf, time.Minute) // a database outage: once a minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := s.store.Cursor(ctx, configCursor)
		if err != nil {
			logf("server: configuration changes of other servers: %v", err)
			continue
		}
		if s.configSeen.Swap(v) != v {
			s.forgetConfig()
			if ls := s.cfg.LogStore; ls != nil {
				if err := s.metricFilters.load(ctx, ls); err != nil {
					logf("server: metric filters changed by another server: %v", err)
				}
			}
		}
	}
}
