// Command klaxon runs the Klaxon incident-alerting server.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"klaxon/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := web.Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "klaxon:", err)
		os.Exit(1)
	}
}
