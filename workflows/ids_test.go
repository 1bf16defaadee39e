package workflows

import "testing"

func TestWorkflowIDIsCanonicalAndUnambiguous(t *testing.T) {
	same := [][2][2]string{
		{{"ACME/Hello", "main"}, {"acme/hello", "main"}},
	}
	for _, c := range same {
		if a, b := WorkflowID(c[0][0], c[0][1]), WorkflowID(c[1][0], c[1][1]); a != b {
			t.Errorf("%v and %v name one branch but got %q and %q", c[0], c[1], a, b)
		}
	}
	differ := [][2][2]string{
		{{"acme/gl", "x/main"}, {"acme/gl/x", "main"}},
		{{"acme/a:b", "c"}, {"acme/a", "b:c"}},
		{{"acme/a%3Ab", "c"}, {"acme/a:b", "c"}},
		{{"acme/hello", "Main"}, {"acme/hello", "main"}}, // branches are case-sensitive
	}
	for _, c := range differ {
		if a, b := WorkflowID(c[0][0], c[0][1]), WorkflowID(c[1][0], c[1][1]); a == b {
			t.Errorf("%v and %v are different branches but share the ID %q", c[0], c[1], a)
		}
	}
	if got, want := WorkflowID("acme/hello", "release/1.2"), "pipeline/acme/hello:release/1.2"; got != want {
		t.Errorf("WorkflowID = %q, want %q", got, want)
	}
}
