package chat

import (
	"net/url"
	"testing"
)

// FuzzParseInteraction feeds arbitrary form bodies to the interaction
// parser: it must not panic and must never accept a payload without a user.
func FuzzParseInteraction(f *testing.F) {
	f.Add(click("U0ALICE", ActionApprove, "pipeline/acme/hello/main@0193abcd-ef01-7000-8000-000000000000"))
	f.Add([]byte(url.Values{"payload": {`{"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"sluice_reject_reason","private_metadata":"{}"}}`}}.Encode()))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte("payload="))
	f.Add([]byte("%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseInteraction(body)
		if err == nil && (cb == nil || cb.User.ID == "") {
			t.Fatalf("accepted a payload without a user: %+v", cb)
		}
	})
}
