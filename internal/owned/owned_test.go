package owned

import (
	"errors"
	"sync"
	"testing"
)

func TestClient(t *testing.T) {
	var none Client
	if none.Close() != nil {
		t.Error("the zero Client owns something")
	}

	var c Client
	calls := 0
	boom := errors.New("boom")
	c.Own(func() error { calls++; return boom })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := c.Close(); err != boom {
				t.Errorf("Close() = %v, want the close error", err)
			}
		})
	}
	wg.Wait()
	if calls != 1 {
		t.Errorf("the client was closed %d times, want once", calls)
	}
}
