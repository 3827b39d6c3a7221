package mongo_test

import (
	"context"
	"log"
	"time"

	gomongo "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/mongo"
)

// Sessions in a collection of a client the app already has, through the
// typed constructor. The example needs a server, so it only compiles.
func ExampleNew() {
	ctx := context.Background()
	client, err := gomongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017/"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)

	st, err := mongo.New(client.Database("app").Collection("sessions"), nil)
	if err != nil {
		log.Fatal(err)
	}
	// Once at startup: the TTL index by which the server deletes expired
	// sessions (a warning, not an error, on servers without TTL indexes).
	if err := st.CreateIndexes(ctx); err != nil {
		log.Fatal(err)
	}

	m, err := sessionplus.New(ctx, sessionplus.Config{Sessions: []sessionplus.Options{
		{"cookie_name": "session", "session_type": "mongodb", "store": st},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// The same from a configuration map, as it could come from a file: the
// driver connects to the replica set and disconnects when the manager is
// closed.
func Example_mapConfig() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := sessionplus.New(ctx, sessionplus.Config{Sessions: []sessionplus.Options{{
		"cookie_name":      "session",
		"session_type":     "mongodb",
		"url":              "mongodb://db1:27017,db2:27017,db3:27017/?replicaSet=rs0",
		"db":               "app",
		"collection":       "sessions",
		"timeout":          "2s", // each operation, even of a request with no deadline
		"session_lifetime": "12h",
	}}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// Without a TTL index (FerretDB, for one), delete expired sessions now and
// then from one instance of the app.
func ExampleStore_Sweep() {
	ctx := context.Background()
	client, err := gomongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017/"))
	if err != nil {
		log.Fatal(err)
	}
	st, err := mongo.New(client.Database("app").Collection("sessions"), nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for range time.Tick(5 * time.Minute) {
			if n, err := st.Sweep(ctx); err != nil {
				log.Print(err)
			} else {
				log.Printf("deleted %d expired sessions", n)
			}
		}
	}()
}
