package gitsrc

import (
	"net/url"
	"strings"
)

// Redacted returns a repository URL safe to show: credentials in it (a
// password, or a token written as the user name) are replaced by "xxxxx".
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("xxxxx")
	return u.String()
}

// redactedError keeps the cause of an error (errors.Is still sees
// ErrNotFound) while its text shows no credentials of url.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrub removes the credentials of rawURL from err's text.
func scrub(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), rawURL, Redacted(rawURL))
	// the password, or a token written as the user name, may also appear alone
	secret := u.User.Username()
	if p, ok := u.User.Password(); ok {
		secret = p
	}
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "xxxxx")
	}
	return &redactedError{msg: msg, err: err}
}
