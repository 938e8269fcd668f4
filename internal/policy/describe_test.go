package policy

import "testing"

func TestDescribe(t *testing.T) {
	p, err := Parse("p.json", []byte(`{"version": "1", "default": "deny", "hide": ["delete_*"],
		"all_tools": {"limits": [{"counter": "all", "window": "hour", "max": 1000, "scope": "server"}]},
		"tools": {
			"get_user": {},
			"create_user": {"rate_limit": {"max": 30, "window": 60}},
			"deactivate_user": {"action": "approve"},
			"suspend_user": {"action": "deny", "reason": "no"},
			"provision_applications": {"require": ["has(args.reason)"], "deny_if": ["size(args.userIds) > 100"], "approve_if": ["size(args.userIds) > 50"]},
			"run_*": {"action": "hide"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for tool, want := range map[string]string{
		"get_user":               "allow, 1000/hour per server",
		"create_user":            "allow, 1000/hour per server, 30/minute per grant",
		"deactivate_user":        "approve, 1000/hour per server",
		"suspend_user":           "deny",
		"delete_user":            "hide",
		"run_workflow":           "hide",
		"list_users":             "deny (default)",
		"provision_applications": "allow if 2 conditions hold, 1000/hour per server; approve if 1 condition holds",
	} {
		if got := p.Describe(tool); got != want {
			t.Errorf("Describe(%q) = %q; want %q", tool, got, want)
		}
	}
}
