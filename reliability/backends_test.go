package reliability

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	gfirestore "cloud.google.com/go/firestore"
	gomemcache "github.com/bradfitz/gomemcache/memcache"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	gomongo "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	_ "github.com/sessionplus/sessionplus/drivers/firestore"
	_ "github.com/sessionplus/sessionplus/drivers/memcache"
	"github.com/sessionplus/sessionplus/drivers/memory"
	_ "github.com/sessionplus/sessionplus/drivers/mongo"
	_ "github.com/sessionplus/sessionplus/drivers/postgres"
	_ "github.com/sessionplus/sessionplus/drivers/redis"
)

// mongoDB is the database of the tests' sessions on their own FerretDB.
const mongoDB = "sessionplus_reliability"

// backend is one server-side session backend as a test's app sees it: the
// kind, the instance, and where the app connects (the servers themselves
// or fault proxies in front of them). Each backend has a scope of its own
// (a key prefix, or a collection) so that tests sharing an instance never
// see each other's records.
type backend struct {
	kind  string
	in    *instance     // nil for "memory"
	via   proxies       // nil: the app connects to the servers directly
	mem   *memory.Store // the store of a "memory" backend
	scope string        // key_prefix, and collection or table name where there is one
}

// newBackend returns a backend of kind with a fresh scope; withProxies puts
// a fault proxy in front of each server.
func newBackend(t testing.TB, kind string, withProxies bool) *backend {
	t.Helper()
	b := &backend{kind: kind, scope: "rel" + randomHex(5)}
	if kind == "memory" {
		b.mem = memory.New()
		return b
	}
	b.in = need(t, kind)
	if withProxies {
		for _, a := range b.in.addrs() {
			b.via = append(b.via, newProxy(t, a))
		}
	}
	return b
}

// appAddrs returns the addresses the app dials.
func (b *backend) appAddrs() []string {
	if b.via != nil {
		return b.via.addrs()
	}
	return b.in.addrs()
}

// tuning of a backend's client, for tests that want failures fast.
type tuning struct {
	memcacheTimeout  string // memcache "timeout"; default 300ms
	firestoreTimeout string // firestore "timeout"; default the driver's
	mongoQuery       string // extra query of the mongodb url
}

// driverOptions returns the options of a server-side session on b:
// session_type, key_prefix and the driver's own keys. Clients it builds are
// closed when the test ends.
func (b *backend) driverOptions(t testing.TB, tu tuning) sessionplus.Options {
	t.Helper()
	o := sessionplus.Options{"key_prefix": b.scope}
	for k, v := range b.storeOptions(t, tu) {
		o[k] = v
	}
	if b.kind == "memory" {
		o["session_type"] = "memory"
	}
	return o
}

// storeOptions returns session_type and the driver's own keys, without the
// common keys, as a driver's Open takes them.
func (b *backend) storeOptions(t testing.TB, tu tuning) sessionplus.Options {
	t.Helper()
	addrs := b.appAddrs
	switch b.kind {
	case "memory":
		return sessionplus.Options{"store": b.mem}
	case "redis":
		return sessionplus.Options{"session_type": "redis", "url": "redis://" + addrs()[0] + "/0"}
	case "redis-cluster":
		if b.via == nil {
			return sessionplus.Options{"session_type": "redis", "addrs": addrs()}
		}
		// Through the proxies: the cluster announces its nodes' own
		// addresses, so the client dials each through its proxy.
		m := b.via.byTarget()
		c := goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:                 b.in.addrs(),
			ContextTimeoutEnabled: true,
			Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if p, ok := m[addr]; ok {
					addr = p
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		})
		t.Cleanup(func() { c.Close() })
		return sessionplus.Options{"session_type": "redis", "client": c}
	case "memcache":
		timeout := tu.memcacheTimeout
		if timeout == "" {
			timeout = "300ms"
		}
		return sessionplus.Options{"session_type": "memcache", "servers": addrs(), "timeout": timeout}
	case "mongodb":
		u := "mongodb://" + addrs()[0] + "/?directConnection=true"
		if tu.mongoQuery != "" {
			u += "&" + tu.mongoQuery
		}
		return sessionplus.Options{"session_type": "mongodb", "url": u, "db": mongoDB, "collection": b.scope}
	case "firestore":
		o := sessionplus.Options{"session_type": "firestore", "client": firestoreClient(t, addrs()[0]), "collection": b.scope}
		if tu.firestoreTimeout != "" {
			o["timeout"] = tu.firestoreTimeout
		}
		return o
	case "postgres":
		return sessionplus.Options{"session_type": "postgres", "url": postgresURL(addrs()[0]), "table": b.scope}
	}
	t.Fatalf("unknown backend kind %q", b.kind)
	return nil
}

// openStore opens a Store of b directly through its driver, as the root
// package would, for tests of the Store contract.
func (b *backend) openStore(t testing.TB, tu tuning) sessionplus.Store {
	t.Helper()
	if b.kind == "memory" {
		return b.mem
	}
	opts := b.storeOptions(t, tu)
	typ := opts["session_type"].(string)
	delete(opts, "session_type")
	d, err := sessionplus.DefaultRegistry.Lookup(typ)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := d.Open(ctx, sessionplus.DriverConfig{Options: opts, Name: "direct", Logger: testLogger})
	if err != nil {
		t.Fatalf("%s: Open: %v", b.kind, err)
	}
	t.Cleanup(func() {
		if c, ok := st.(interface{ Close() error }); ok {
			c.Close()
		}
	})
	return st
}

// emulatorCreds is the credential the Firestore emulator expects, as the
// Go client sends it when FIRESTORE_EMULATOR_HOST is set.
type emulatorCreds struct{}

func (emulatorCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (emulatorCreds) RequireTransportSecurity() bool { return false }

// firestoreClient returns a client of the emulator at addr (not the one
// FIRESTORE_EMULATOR_HOST names), closed when the test ends.
func firestoreClient(t testing.TB, addr string) *gfirestore.Client {
	t.Helper()
	// As drivers/firestore's doc advises for a client passed in: reconnect
	// within a second (gRPC's default backoff grows to two minutes).
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorCreds{}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := gfirestore.NewClient(context.Background(), "sessionplus-reliability", option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return c
}

// storageKey is the key the record of a server-side session's cookie is
// stored under by default (key_prefix ":" base64url(SHA-256(id "." terms)),
// the terms being the permanent flag and creation time that follow the id),
// computed independently of the library. It is "" for a value of another
// form.
func storageKey(prefix, cookieValue string) string {
	id, rest, ok := strings.Cut(cookieValue, ".")
	terms, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || len(id) != 43 {
		return ""
	}
	sum := sha256.Sum256([]byte(id + "." + terms))
	return prefix + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// idOf returns the session id that a server-side session's cookie value
// carries: its first 43 characters.
func idOf(cookieValue string) string {
	if len(cookieValue) < 43 {
		return ""
	}
	return cookieValue[:43]
}

// inspector reads a backend's records directly, with a client of its own
// and never through the library or the proxies.
type inspector struct {
	t testing.TB
	b *backend

	rdb goredis.UniversalClient
	mc  []*gomemcache.Client
	mgo *gomongo.Collection
	fs  *gfirestore.Client
	pg  *pgxpool.Pool
}

// inspect returns an inspector of b.
func (b *backend) inspect(t testing.TB) *inspector {
	t.Helper()
	ins := &inspector{t: t, b: b}
	switch b.kind {
	case "redis":
		ins.rdb = goredis.NewClient(&goredis.Options{Addr: b.in.addrs()[0]})
	case "redis-cluster":
		ins.rdb = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: b.in.addrs()})
	case "memcache":
		for _, a := range b.in.addrs() {
			ins.mc = append(ins.mc, gomemcache.New(a))
		}
	case "mongodb":
		c, err := gomongo.Connect(options.Client().ApplyURI("mongodb://" + b.in.addrs()[0] + "/?directConnection=true"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Disconnect(context.Background()) })
		ins.mgo = c.Database(mongoDB).Collection(b.scope)
	case "firestore":
		ins.fs = firestoreClient(t, b.in.addrs()[0])
	case "postgres":
		p, err := pgxpool.New(context.Background(), postgresURL(b.in.addrs()[0]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		ins.pg = p
	}
	if ins.rdb != nil {
		t.Cleanup(func() { ins.rdb.Close() })
	}
	return ins
}

// record returns the fields stored under key (the backend's own
// bookkeeping fields included, where it has any), and whether there is a
// record.
func (ins *inspector) record(key string) (map[string][]byte, bool) {
	ins.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string][]byte{}
	switch ins.b.kind {
	case "memory":
		rec, err := ins.b.mem.Load(ctx, key)
		if errors.Is(err, sessionplus.ErrNotFound) {
			return nil, false
		}
		if err != nil {
			ins.t.Fatal(err)
		}
		return rec.Values, true
	case "redis", "redis-cluster":
		m, err := ins.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			ins.t.Fatalf("%s: HGETALL: %v", ins.b.kind, err)
		}
		if len(m) == 0 {
			return nil, false
		}
		for k, v := range m {
			out[k] = []byte(v)
		}
		return out, true
	case "memcache":
		for _, c := range ins.mc {
			it, err := c.Get(key)
			if errors.Is(err, gomemcache.ErrCacheMiss) {
				continue
			}
			if err != nil {
				ins.t.Fatalf("memcache: get: %v", err)
			}
			rec, ok := memcacheRecord(it.Value)
			if !ok {
				ins.t.Fatalf("memcache: the item under %s is not a record", key)
			}
			return rec.Values, true
		}
		return nil, false
	case "mongodb":
		var doc struct {
			Data map[string]bson.Binary `bson:"data"`
		}
		err := ins.mgo.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&doc)
		if errors.Is(err, gomongo.ErrNoDocuments) {
			return nil, false
		}
		if err != nil {
			ins.t.Fatalf("mongodb: find: %v", err)
		}
		for k, v := range doc.Data {
			out[k] = v.Data
		}
		return out, true
	case "firestore":
		snap, err := ins.fs.Collection(ins.b.scope).Doc(key).Get(ctx)
		if snap != nil && !snap.Exists() {
			return nil, false
		}
		if err != nil {
			ins.t.Fatalf("firestore: get: %v", err)
		}
		data, _ := snap.Data()["data"].(map[string]any)
		for k, v := range data {
			b, _ := v.([]byte)
			out[k] = b
		}
		return out, true
	case "postgres":
		var data []byte
		err := ins.pg.QueryRow(ctx, `SELECT data FROM `+pgx.Identifier{ins.b.scope}.Sanitize()+` WHERE token = $1`, key).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) || undefinedTable(err) {
			return nil, false
		}
		if err != nil {
			ins.t.Fatalf("postgres: select: %v", err)
		}
		rec, err := postgresRecord(data)
		if err != nil {
			ins.t.Fatalf("postgres: the row of %s: %v", key, err)
		}
		return rec, true
	}
	ins.t.Fatalf("no inspector for %s", ins.b.kind)
	return nil, false
}

// memcacheRecord reads the record of a memcache item, laid out as
// drivers/memcache/item.go says: a version byte (1), the uvarint length of
// the record, the record (MarshalRecord), then one 8-byte expiry per
// keep-alive since it was written.
func memcacheRecord(v []byte) (sessionplus.Record, bool) {
	if len(v) == 0 || v[0] != 1 {
		return sessionplus.Record{}, false
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || n > uint64(len(v)-1-k) {
		return sessionplus.Record{}, false
	}
	rec, err := sessionplus.UnmarshalRecord(v[1+k : 1+k+int(n)])
	return rec, err == nil
}

// postgresRecord reads the data column of a row of drivers/postgres, laid
// out as drivers/postgres/store.go says: a jsonb object with one member per
// field, the field's name (or, for a name that is not valid UTF-8 or starts
// with "\x01b64:", that prefix and the name in base64url without padding)
// and its bytes in standard base64.
func postgresRecord(data []byte) (map[string][]byte, error) {
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("data is not a JSON object of strings: %w", err)
	}
	out := make(map[string][]byte, len(m))
	for name, enc := range m {
		if rest, ok := strings.CutPrefix(name, "\x01b64:"); ok {
			b, err := base64.RawURLEncoding.DecodeString(rest)
			if err != nil {
				return nil, fmt.Errorf("the escaped field name %q: %w", name, err)
			}
			name = string(b)
		}
		v, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("the value of field %q: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// undefinedTable reports whether err is PostgreSQL's "relation does not
// exist": a scope whose table no store has created holds no record.
func undefinedTable(err error) bool {
	pe := (*pgconn.PgError)(nil)
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// keys returns every key (document id) stored in b's scope, and for each
// what is stored under it, raw, so that a test can look for session ids in
// either.
func (ins *inspector) keys() map[string][]byte {
	ins.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string][]byte{}
	switch ins.b.kind {
	case "redis", "redis-cluster":
		scan := func(ctx context.Context, c *goredis.Client) error {
			it := c.Scan(ctx, 0, ins.b.scope+":*", 1000).Iterator()
			for it.Next(ctx) {
				k := it.Val()
				m, err := c.HGetAll(ctx, k).Result()
				if err != nil {
					return err
				}
				var raw []byte
				for f, v := range m {
					raw = append(append(raw, f...), v...)
				}
				out[k] = raw
			}
			return it.Err()
		}
		var err error
		if cc, ok := ins.rdb.(*goredis.ClusterClient); ok {
			mu := make(chan struct{}, 1)
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
				mu <- struct{}{}
				defer func() { <-mu }()
				return scan(ctx, c)
			})
		} else {
			err = scan(ctx, ins.rdb.(*goredis.Client))
		}
		if err != nil {
			ins.t.Fatalf("%s: scan: %v", ins.b.kind, err)
		}
	case "memcache":
		for _, a := range ins.b.in.addrs() {
			for _, k := range memcacheKeys(ins.t, a) {
				if !strings.HasPrefix(k, ins.b.scope+":") {
					continue
				}
				for _, c := range ins.mc {
					if it, err := c.Get(k); err == nil {
						out[k] = it.Value
					}
				}
			}
		}
	case "mongodb":
		cur, err := ins.mgo.Find(ctx, bson.D{})
		if err != nil {
			ins.t.Fatalf("mongodb: find: %v", err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			ins.t.Fatalf("mongodb: find: %v", err)
		}
		for _, d := range docs {
			id, _ := d.Lookup("_id").StringValueOK()
			out[id] = slices.Clone([]byte(d))
		}
	case "firestore":
		it := ins.fs.Collection(ins.b.scope).Documents(ctx)
		defer it.Stop()
		for {
			snap, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				ins.t.Fatalf("firestore: list: %v", err)
			}
			out[snap.Ref.ID] = []byte(fmt.Sprint(snap.Data()))
		}
	case "postgres":
		rows, err := ins.pg.Query(ctx, `SELECT token, data::text FROM `+pgx.Identifier{ins.b.scope}.Sanitize())
		if err == nil {
			for rows.Next() {
				var token, data string
				if err = rows.Scan(&token, &data); err != nil {
					break
				}
				out[token] = []byte(data)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil && !undefinedTable(err) {
			ins.t.Fatalf("postgres: select: %v", err)
		}
	default:
		ins.t.Fatalf("cannot list the keys of %s", ins.b.kind)
	}
	return out
}

// memcacheKeys lists the keys a memcached holds (lru_crawler metadump).
func memcacheKeys(t testing.TB, addr string) []string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "lru_crawler metadump all\r\n")
	var keys []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := sc.Text()
		if line == "END" {
			break
		}
		if strings.HasPrefix(line, "ERROR") || strings.HasPrefix(line, "BUSY") {
			t.Fatalf("memcached %s: metadump: %s", addr, line)
		}
		for f := range strings.FieldsSeq(line) {
			if k, ok := strings.CutPrefix(f, "key="); ok {
				if u, err := url.QueryUnescape(k); err == nil {
					k = u
				}
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// The stored values are decoded here independently of the library, from
// its storage format (codec.go): one tag byte, the reflect.Kind of a basic
// type, then the value (a string's bytes; an int's varint).

func storedString(b []byte) (string, bool) {
	if len(b) == 0 || b[0] != byte(reflect.String) {
		return "", false
	}
	return string(b[1:]), true
}

func storedInt(b []byte) (int64, bool) {
	if len(b) < 2 || b[0] != byte(reflect.Int) {
		return 0, false
	}
	v, n := binary.Varint(b[1:])
	return v, n > 0
}

// fieldNames returns the names of a record's session fields (the
// backend's bookkeeping fields, with a NUL byte, left out).
func fieldNames(rec map[string][]byte) []string {
	var out []string
	for k := range maps.Keys(rec) {
		if !strings.ContainsRune(k, 0) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
