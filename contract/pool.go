package contract

// PoolSizeInput asks a worker to size a warm build-pod pool, for a
// PoolSize run the server starts (`sluice pool resize` and `drain`).
type PoolSizeInput struct {
	Pool string `json:"pool"`
	// MinIdle is how many idle pods the keeper holds from now on.
	MinIdle int `json:"min_idle"`
	// Drain also deletes the idle pods at once (MinIdle is then 0);
	// claimed pods finish their runs.
	Drain bool `json:"drain,omitempty"`
	// By is who asked, as the server verified it.
	By string `json:"by"`
}

// PoolSizeResult is what sizing did.
type PoolSizeResult struct {
	MinIdle int `json:"min_idle"`
	// Deleted are the idle pods a drain deleted.
	Deleted int `json:"deleted"`
}

// SizePool sets a pool's idle target on its cluster (and drains it).
var SizePool = Activity[PoolSizeInput, PoolSizeResult]{"SizePool"}
