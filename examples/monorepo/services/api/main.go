// Command api is one service of the monorepo.
package main

import (
	"fmt"

	"example.com/monorepo/lib/greet"
)

func message() string { return greet.Hello("api") }

func main() { fmt.Println(message()) }
