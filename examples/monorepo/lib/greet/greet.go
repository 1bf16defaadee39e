// Package greet is the library both services share.
package greet

// Hello greets name.
func Hello(name string) string { return "hello, " + name }
