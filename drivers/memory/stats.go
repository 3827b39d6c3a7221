package memory

import "github.com/sessionplus/sessionplus"

// A Store reports its size and evictions (see [Store.Len] and
// [Store.Evicted]), so that a [sessionplus.Manager] with a MeterProvider
// exports them as the metrics sessionplus.store.sessions and
// sessionplus.store.evictions.
var _ sessionplus.StoreStats = (*Store)(nil)
