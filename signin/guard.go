// Package signin slows password guessing: a Guard locks a user out after
// repeated failed sign-ins and limits how often each source address may
// try, whichever users it names.
//
// Everything a Guard keeps is chosen by whoever signs in, usually before
// anyone knows who they are, so its memory is bounded by construction:
// users are kept by a fixed-size hash of their name, never the name; a
// user keeps at most Failures timestamps; failures expire on their own,
// oldest first, whether or not the same name comes back; and the number
// of failures and of source addresses kept has a hard cap, past which the
// oldest are forgotten first. It is in memory: a restart forgives, as the
// window would anyway.
package signin

import (
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/postern/postern/clientaddr"
)

// Defaults of a Guard's settings.
const (
	// Failures failed sign-ins within Window lock a user out until the
	// oldest of them is Window old.
	Failures = 5
	Window   = 15 * time.Minute
	// Burst sign-in attempts per source address, then one every Interval.
	Burst    = 10
	Interval = 6 * time.Second
	// MaxFailures and MaxSources cap what a Guard keeps.
	MaxFailures = 100_000
	MaxSources  = 100_000
)

// userKey is a user's identity in the guard: a hash of account and name,
// so that a megabyte-long name costs what a short one does.
type userKey [sha256.Size]byte

func keyOf(account, user string) userKey {
	h := sha256.New()
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write([]byte(user))
	var k userKey
	h.Sum(k[:0])
	return k
}

// userFailures are a user's latest failures, oldest first.
type userFailures struct {
	times [Failures]time.Time
	n     int // how many of times are set (the last n)
}

func (u *userFailures) add(t time.Time) {
	copy(u.times[:], u.times[1:])
	u.times[Failures-1] = t
	u.n = min(u.n+1, Failures)
}

func (u *userFailures) newest() time.Time { return u.times[Failures-1] }

// failure is one entry of the expiry queue.
type failure struct {
	key userKey
	at  time.Time
}

// Guard counts failed sign-ins per user and limits attempts per source
// address. The zero value is not usable; use New. It is safe for
// concurrent use.
type Guard struct {
	maxFailures, maxSources int

	mu sync.Mutex // guards the fields below
	// users holds each user with a failure younger than Window.
	users map[userKey]*userFailures
	// queue holds every failure kept, in the order they happened: the
	// front expires first. queue[head:] is live; it is compacted as the
	// head advances.
	queue []failure
	head  int
	// sources limits attempts per address (an IPv6 address per /64,
	// which one host can hold entirely).
	sources map[netip.Prefix]*rate.Limiter
}

// New returns a Guard with the default settings.
func New() *Guard { return NewWithLimits(MaxFailures, MaxSources) }

// NewWithLimits returns a Guard that keeps at most maxFailures failures
// and maxSources source addresses.
func NewWithLimits(maxFailures, maxSources int) *Guard {
	return &Guard{
		maxFailures: maxFailures, maxSources: maxSources,
		users:   map[userKey]*userFailures{},
		sources: map[netip.Prefix]*rate.Limiter{},
	}
}

// Allow reports whether a sign-in attempt from addr (host:port, or a bare
// host) may go ahead at now, and spends one of the source's attempts.
func (g *Guard) Allow(addr string, now time.Time) bool {
	p := clientaddr.Prefix(addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.sources[p]
	if l == nil {
		if len(g.sources) >= g.maxSources {
			g.pruneSources(now)
		}
		l = rate.NewLimiter(rate.Every(Interval), Burst)
		g.sources[p] = l
	}
	return l.AllowN(now, 1)
}

// pruneSources forgets the sources that have their whole burst back (they
// are as if never seen), and if that is not enough, all of them: under a
// spray of more addresses than the cap, per-address limits cannot hold
// anyway, and the user lockout still does. g.mu must be held.
func (g *Guard) pruneSources(now time.Time) {
	for p, l := range g.sources {
		if l.TokensAt(now) >= Burst {
			delete(g.sources, p)
		}
	}
	if len(g.sources) >= g.maxSources {
		clear(g.sources)
	}
}

// Locked returns until when the user is locked out at now, or zero.
func (g *Guard) Locked(account, user string, now time.Time) time.Time {
	k := keyOf(account, user)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	u := g.users[k]
	if u == nil || u.n < Failures {
		return time.Time{}
	}
	if until := u.times[0].Add(Window); until.After(now) {
		return until
	}
	return time.Time{}
}

// Fail records a failed sign-in of the user at now.
func (g *Guard) Fail(account, user string, now time.Time) {
	k := keyOf(account, user)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	if len(g.queue)-g.head >= g.maxFailures {
		g.drop() // the oldest failure is forgotten early
	}
	u := g.users[k]
	if u == nil {
		u = &userFailures{}
		g.users[k] = u
	}
	u.add(now)
	g.queue = append(g.queue, failure{k, now})
}

// Succeed forgives the user's failures.
func (g *Guard) Succeed(account, user string) {
	k := keyOf(account, user)
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.users, k) // its queue entries find no user, or a newer one
}

// Len returns how many users and sources the guard holds, and how many
// failures.
func (g *Guard) Len() (users, sources, failures int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.users), len(g.sources), len(g.queue) - g.head
}

// expire drops the failures Window old at now. g.mu must be held.
func (g *Guard) expire(now time.Time) {
	for g.head < len(g.queue) && now.Sub(g.queue[g.head].at) >= Window {
		g.drop()
	}
}

// drop forgets the oldest failure kept; its user goes once that was the
// user's newest. g.mu must be held.
func (g *Guard) drop() {
	f := g.queue[g.head]
	g.queue[g.head] = failure{}
	g.head++
	if u := g.users[f.key]; u != nil && !u.newest().After(f.at) {
		delete(g.users, f.key)
	}
	// Compact once the dead front is half the slice, so the queue's
	// memory follows what it holds.
	if g.head > 1024 && g.head*2 >= len(g.queue) {
		n := copy(g.queue, g.queue[g.head:])
		clear(g.queue[n:])
		g.queue = g.queue[:n]
		g.head = 0
	}
}
