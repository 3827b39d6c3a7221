package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionplus/sessionplus"
)

// Name is the session_type under which the driver registers.
const Name = "memory"

// DefaultMaxSessions is the number of records a store holds at most unless
// its options say otherwise: room for a development server or a
// single-instance app, about 25 MB of records of two 40-byte fields.
const DefaultMaxSessions = 100_000

func init() { sessionplus.Register(Name, Driver{}) }

// Driver opens memory stores. It is registered under [Name].
type Driver struct{}

// config holds the driver-specific keys of a memory session.
type config struct {
	MaxSessions *int `mapstructure:"max_sessions"`
}

// Open returns a new, empty [Store]. The only driver-specific key is
// max_sessions; the store logs through the session's logger.
func (Driver) Open(_ context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	o := Options{Logger: cfg.Logger}
	if c.MaxSessions != nil {
		o.MaxSessions = *c.MaxSessions
	}
	return NewWithOptions(&o)
}

// Validate checks max_sessions, which must be a positive whole number
// (Decode refuses a fraction) of at most math.MaxInt32.
func (c *config) Validate(cfg sessionplus.DriverConfig) error {
	if v, ok := cfg.Options["max_sessions"]; ok {
		if c.MaxSessions == nil || *c.MaxSessions <= 0 || *c.MaxSessions > math.MaxInt32 {
			return sessionplus.ConfigErrorf(`key "max_sessions": expected a positive whole number of sessions, got %v`, v)
		}
	}
	return nil
}

// Options configures a [Store] made with [NewWithOptions]. A nil *Options
// means the defaults.
type Options struct {
	// MaxSessions is the most records the store holds. A Create of a new
	// token at the limit first removes the record nearest to its expiry.
	// Default [DefaultMaxSessions]; it must not be negative.
	MaxSessions int

	// Logger receives a warning, at most once a minute, while the store
	// evicts live records to stay within MaxSessions. It never receives
	// tokens or values. Default slog.Default().
	Logger *slog.Logger
}

var (
	_ sessionplus.Store     = (*Store)(nil)
	_ sessionplus.UserIndex = (*Store)(nil)
)

const (
	// numShards is the number of parts of a store, each under its own lock,
	// that a token's hash chooses between.
	numShards = 64

	// sweepBatch bounds the expired records that one call removes from one
	// shard.
	sweepBatch = 8

	// logInterval is the least time between two warnings about evictions.
	logInterval = time.Minute
)

// seed hashes tokens to shards.
var seed = maphash.MakeSeed()

// Store is an in-process [sessionplus.Store]. It is safe for concurrent use.
// The zero value is an empty store with the default options, ready to use;
// a Store must not be copied after first use.
type Store struct {
	shards [numShards]shard
	max    int              // 0: DefaultMaxSessions
	logger *slog.Logger     // nil: slog.Default()
	now    func() time.Time // nil: time.Now; tests set it

	held    atomic.Int64  // records in all shards, expired ones included
	evicted atomic.Uint64 // live records removed to make room
	nextLog atomic.Int64  // Unix nanoseconds before which no warning goes out
	logged  atomic.Uint64 // evicted at the last warning

	// users indexes the records that belong to a user: user key → tokens.
	// Its lock is taken inside a shard's, never the other way round.
	usersMu sync.Mutex
	users   map[string]map[string]struct{}
}

// shard is one part of a store. Its records are indexed twice: by token,
// and in a min-heap by expiry, so that the expired records and the record
// nearest to its expiry are found without a scan.
type shard struct {
	mu      sync.Mutex
	records map[string]*entry
	queue   queue        // the same entries with their expiries, soonest first
	soonest atomic.Int64 // expiry of queue[0], 0 when empty: read without mu
}

// entry is one stored record. Its expiry is kept in its item of the
// shard's queue.
type entry struct {
	token  string // its key in shard.records
	fields string // the encoded values; see encode. Never modified: replaced
	index  int    // of its item in shard.queue
	user   string // the user whose index holds it; "" for none
}

// New returns an empty store with the default options. It is the same as
// NewWithOptions(nil).
func New() *Store { return &Store{} }

// NewWithOptions returns an empty store configured by opts; nil means the
// defaults. The error, for a negative MaxSessions, wraps
// [sessionplus.ErrConfig].
func NewWithOptions(opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxSessions < 0 {
		return nil, sessionplus.ConfigErrorf("memory: NewWithOptions: Options.MaxSessions: expected a positive number, got %d", o.MaxSessions)
	}
	return &Store{max: o.MaxSessions, logger: o.Logger}, nil
}

// Len returns the number of records the store holds, including expired ones
// that have not been swept yet.
func (s *Store) Len() int { return int(s.held.Load()) }

// Evicted returns the number of live records that Creates have removed to
// keep the store within its MaxSessions. Expired records removed on the way
// are not counted.
func (s *Store) Evicted() uint64 { return s.evicted.Load() }

// Load returns a copy of the record stored under token. It returns an error
// wrapping [sessionplus.ErrNotFound] if there is none or if its expiry has
// passed.
func (s *Store) Load(_ context.Context, token string) (sessionplus.Record, error) {
	now := s.clock().UnixNano()
	s.sweepAnother(now)
	sh := s.shard(token)
	sh.mu.Lock()
	e := sh.records[token]
	var fields string
	var expiry int64
	if e != nil {
		fields, expiry = e.fields, sh.queue[e.index].expiry
		if expiry <= now {
			s.remove(sh, e)
			e = nil
		}
	}
	s.sweep(sh, now)
	sh.mu.Unlock()
	if e == nil {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	return sessionplus.Record{Values: decode(fields), Expiry: time.Unix(0, expiry)}, nil
}

// Save applies u to the record under token as [sessionplus.Kind] describes,
// and returns token. A Write or Touch of a record that is missing, expired
// or evicted changes nothing and returns [sessionplus.ErrNotFound]. A
// Create of a new token in a full store first evicts the record nearest to
// its expiry.
func (s *Store) Save(_ context.Context, token string, u sessionplus.Update) (string, error) {
	var fields string
	switch u.Kind {
	case sessionplus.Create:
		fields = encode(u.Set) // before taking a lock
	case sessionplus.Write, sessionplus.Touch:
	default:
		return "", fmt.Errorf("memory: unknown kind of save %v", u.Kind)
	}
	now := s.clock().UnixNano()
	expiry := unixNano(u.Expiry)
	s.sweepAnother(now)
	sh := s.shard(token)
	if u.Kind == sessionplus.Create && s.held.Load() >= int64(s.maxSessions()) && !sh.holds(token) {
		s.makeRoom(now)
	}

	sh.mu.Lock()
	defer sh.mu.Unlock()
	defer s.sweep(sh, now)
	e := sh.records[token]
	if e != nil && sh.queue[e.index].expiry <= now && u.Kind != sessionplus.Create {
		s.remove(sh, e)
		e = nil
	}
	switch {
	case u.Kind == sessionplus.Create && e == nil:
		e = &entry{token: token, fields: fields}
		s.insert(sh, e, expiry)
		s.setUser(e, u.User)
		return token, nil
	case u.Kind == sessionplus.Create:
		e.fields = fields
		s.setUser(e, u.User)
	case e == nil:
		return "", sessionplus.ErrNotFound
	case u.Kind == sessionplus.Write:
		e.fields = merge(e.fields, u.Set, u.Del)
		if u.SetUser {
			s.setUser(e, u.User)
		}
	}
	sh.queue.setExpiry(e.index, expiry)
	sh.setSoonest()
	return token, nil
}

// Delete removes the record under token. It returns
// [sessionplus.ErrNotFound] if there was none.
func (s *Store) Delete(_ context.Context, token string) error {
	now := s.clock().UnixNano()
	s.sweepAnother(now)
	sh := s.shard(token)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	defer s.sweep(sh, now)
	e := sh.records[token]
	if e == nil {
		return sessionplus.ErrNotFound
	}
	s.remove(sh, e)
	return nil
}

func (s *Store) shard(token string) *shard {
	return &s.shards[maphash.String(seed, token)%numShards]
}

func (s *Store) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *Store) maxSessions() int {
	if s.max > 0 {
		return s.max
	}
	return DefaultMaxSessions
}

// holds reports whether a record, live or expired, is stored under token.
func (sh *shard) holds(token string) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.records[token] != nil
}

// insert adds e, expiring at expiry, to sh, whose lock is held.
func (s *Store) insert(sh *shard, e *entry, expiry int64) {
	if sh.records == nil {
		sh.records = make(map[string]*entry)
	}
	sh.records[e.token] = e
	sh.queue.push(item{expiry: expiry, entry: e})
	sh.setSoonest()
	s.held.Add(1)
}

// remove deletes e from sh, whose lock is held.
func (s *Store) remove(sh *shard, e *entry) {
	s.setUser(e, "")
	delete(sh.records, e.token)
	sh.queue.remove(e.index)
	sh.setSoonest()
	s.held.Add(-1)
}

// setUser moves e to the index of user ("" for none). The lock of e's
// shard is held.
func (s *Store) setUser(e *entry, user string) {
	if e.user == user {
		return
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if old := s.users[e.user]; old != nil {
		delete(old, e.token)
		if len(old) == 0 {
			delete(s.users, e.user)
		}
	}
	e.user = user
	if user == "" {
		return
	}
	if s.users == nil {
		s.users = make(map[string]map[string]struct{})
	}
	set := s.users[user]
	if set == nil {
		set = make(map[string]struct{}, 1)
		s.users[user] = set
	}
	set[e.token] = struct{}{}
}

// UserRecords returns copies of the live records indexed under user; see
// [sessionplus.UserIndex]. The index holds only stored records: a record
// leaves it when it is deleted, evicted or swept, so it is as large as the
// store at most.
func (s *Store) UserRecords(_ context.Context, user string) ([]sessionplus.UserRecord, error) {
	s.usersMu.Lock()
	tokens := make([]string, 0, len(s.users[user]))
	for t := range s.users[user] {
		tokens = append(tokens, t)
	}
	s.usersMu.Unlock()
	now := s.clock().UnixNano()
	var out []sessionplus.UserRecord
	for _, t := range tokens {
		sh := s.shard(t)
		sh.mu.Lock()
		e := sh.records[t]
		if e != nil && e.user == user && sh.queue[e.index].expiry > now {
			out = append(out, sessionplus.UserRecord{Token: t, Record: sessionplus.Record{
				Values: decode(e.fields), Expiry: time.Unix(0, sh.queue[e.index].expiry)}})
		}
		sh.mu.Unlock()
	}
	return out, nil
}

// sweep removes up to sweepBatch expired records from sh, whose lock is
// held: the cost of a sweep is bounded per call, wherever the records are.
func (s *Store) sweep(sh *shard, now int64) {
	for range sweepBatch {
		if len(sh.queue) == 0 || sh.queue[0].expiry > now {
			return
		}
		s.remove(sh, sh.queue[0].entry)
	}
}

// sweepAnother sweeps a shard chosen at random if it holds an expired
// record and its lock is free, so that expired records are reclaimed in
// every shard, not only those whose tokens are in use. It never waits.
func (s *Store) sweepAnother(now int64) {
	sh := &s.shards[rand.IntN(numShards)]
	if soonest := sh.soonest.Load(); soonest == 0 || soonest > now || !sh.mu.TryLock() {
		return
	}
	s.sweep(sh, now)
	sh.mu.Unlock()
}

// makeRoom removes records, the one nearest to its expiry first, until the
// store holds fewer than its maximum. It takes one shard lock at a time,
// and the caller must hold none. Creates that run at once may each see
// room for one more, so the store can exceed its maximum by as many; the
// next Create removes the excess, a few records at most per call.
func (s *Store) makeRoom(now int64) {
	for range 4 {
		if s.held.Load() < int64(s.maxSessions()) {
			return
		}
		sh := s.soonestShard()
		if sh == nil {
			return
		}
		sh.mu.Lock()
		var soonest item
		if len(sh.queue) > 0 {
			soonest = sh.queue[0]
			s.remove(sh, soonest.entry)
		}
		sh.mu.Unlock()
		if soonest.entry != nil && soonest.expiry > now {
			s.evictedLive(now)
		}
	}
}

// soonestShard returns the shard whose next record to expire is the
// nearest, or nil if every shard is empty.
func (s *Store) soonestShard() *shard {
	var best *shard
	var bestExpiry int64 = math.MaxInt64
	for i := range s.shards {
		if e := s.shards[i].soonest.Load(); e != 0 && e <= bestExpiry {
			best, bestExpiry = &s.shards[i], e
		}
	}
	return best
}

// evictedLive counts the eviction of a live record and logs a warning if
// none went out in the last logInterval.
func (s *Store) evictedLive(now int64) {
	total := s.evicted.Add(1)
	next := s.nextLog.Load()
	if now < next || !s.nextLog.CompareAndSwap(next, now+int64(logInterval)) {
		return
	}
	logger := s.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("sessionplus: memory: the store is full; evicting the sessions nearest to their expiry",
		"max_sessions", s.maxSessions(),
		"evicted", total-s.logged.Swap(total),
		"evicted_total", total)
}

// setSoonest publishes the expiry of the head of sh.queue.
func (sh *shard) setSoonest() {
	var soonest int64
	if len(sh.queue) > 0 {
		soonest = sh.queue[0].expiry
	}
	sh.soonest.Store(soonest)
}

// queue is a min-heap of records by expiry. Each item holds its expiry,
// so that ordering reads no entry, and each entry knows the index of its
// item, so that it can be moved or removed.
type queue []item

type item struct {
	expiry int64 // Unix nanoseconds
	entry  *entry
}

func (q *queue) push(it item) {
	it.entry.index = len(*q)
	*q = append(*q, it)
	q.up(len(*q) - 1)
}

// remove removes the item at i.
func (q *queue) remove(i int) {
	last := len(*q) - 1
	if i != last {
		q.swap(i, last)
	}
	(*q)[last] = item{}
	*q = (*q)[:last]
	if i != last {
		q.fix(i)
	}
}

// setExpiry changes the expiry of the item at i and restores the order.
func (q queue) setExpiry(i int, expiry int64) {
	q[i].expiry = expiry
	q.fix(i)
}

func (q queue) fix(i int) {
	if !q.down(i) {
		q.up(i)
	}
}

func (q queue) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if q[parent].expiry <= q[i].expiry {
			return
		}
		q.swap(i, parent)
		i = parent
	}
}

// down moves the item at i down the heap and reports whether it moved.
func (q queue) down(i int) bool {
	start := i
	for {
		child := 2*i + 1
		if child >= len(q) {
			break
		}
		if right := child + 1; right < len(q) && q[right].expiry < q[child].expiry {
			child = right
		}
		if q[i].expiry <= q[child].expiry {
			break
		}
		q.swap(i, child)
		i = child
	}
	return i > start
}

func (q queue) swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].entry.index, q[j].entry.index = i, j
}

// maxExpiry is the latest expiry that Unix nanoseconds can hold.
var maxExpiry = time.Unix(0, math.MaxInt64)

// unixNano returns t in Unix nanoseconds, clamped to the years 1970 to
// 2262: later is kept as 2262, earlier is long expired.
func unixNano(t time.Time) int64 {
	switch {
	case t.After(maxExpiry):
		return math.MaxInt64
	case !t.After(time.Unix(0, 0)):
		return 1
	}
	return t.UnixNano()
}
