package testenv

import "testing"

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{"", false}, {"false", false}, {"0", false}, {"no", false}, {"FALSE", false},
		{"true", true}, {"1", true}, {"yes", true}, {"True", true}, {"gitlab", true},
	} {
		t.Run("CI="+tc.value, func(t *testing.T) {
			t.Setenv("CI", tc.value)
			if got := InCI(); got != tc.want {
				t.Fatalf("InCI() = %v with CI=%q, want %v", got, tc.value, tc.want)
			}
		})
	}
}
