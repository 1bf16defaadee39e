package logstore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// minRedact is the shortest form of a secret that is replaced: shorter
// fragments would redact ordinary words.
const minRedact = 6

// variants returns the forms in which a secret may reach a log: as is, each
// line of a multi-line secret, reversed, URL-, path- and JSON-escaped, hex,
// and base64 (standard and URL alphabets, at each of the three alignments it
// can have inside a longer encoded stream).
func variants(secret string) []string {
	forms := []string{secret}
	for _, line := range strings.Split(secret, "\n") {
		forms = append(forms, strings.TrimSpace(line))
	}
	forms = append(forms, reverse(secret), url.QueryEscape(secret), url.PathEscape(secret), hex.EncodeToString([]byte(secret)))
	if b, err := json.Marshal(secret); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for off := range 3 {
			forms = append(forms, alignedBase64(enc, secret, off))
		}
	}
	forms = slices.DeleteFunc(forms, func(f string) bool { return len(f) < minRedact })
	// longest first, so a longer form is replaced before a shorter one inside it
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(forms)
}

// alignedBase64 is the part of base64(x) that is the same for every x that
// holds secret at a byte offset ≡ off (mod 3): the characters whose six bits
// all come from the secret's own bytes.
func alignedBase64(enc *base64.Encoding, secret string, off int) string {
	s := enc.EncodeToString(append(make([]byte, off), secret...))
	n := off + len(secret)
	start, end := (4*off+2)/3, 4*n/3
	if start >= end {
		return ""
	}
	return s[start:end]
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// Redact replaces every form of every known secret in b.
func (s *Store) Redact(b []byte) []byte {
	for _, form := range s.forms {
		b = bytes.ReplaceAll(b, []byte(form), []byte("[redacted]"))
	}
	return b
}
