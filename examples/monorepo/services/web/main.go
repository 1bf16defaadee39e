// Command web is one service of the monorepo.
package main

import (
	"fmt"

	"example.com/monorepo/lib/greet"
)

func message() string { return greet.Hello("web") }

func main() { fmt.Println(message()) }
