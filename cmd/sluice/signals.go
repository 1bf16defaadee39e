package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// interruptCh receives once the process is interrupted or ctx ends: a
// worker's Run stops then.
func interruptCh(ctx context.Context) <-chan any {
	ch := make(chan any, 1)
	go func() {
		waitForSignal(ctx)
		ch <- struct{}{}
	}()
	return ch
}

// waitForSignal returns when the process is interrupted or ctx ends.
func waitForSignal(ctx context.Context) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

func orNone(s string) string {
	if s == "" {
		return "(disabled)"
	}
	return s
}
