package oktasim

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connect starts one of s's servers and a client on the SDK's in-memory
// transports, and closes both when the test ends.
func connect(t testing.TB, s *Sim) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.Server().Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatalf("server Connect: %v", err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "oktasim-test", Version: "v0"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatalf("client Connect: %v", err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs
}

// call runs one tool and returns its text and IsError.
func call(t testing.TB, cs *mcp.ClientSession, tool string, args any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool(%s, %v): protocol error %v", tool, args, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		tc, ok := c.(*mcp.TextContent)
		if !ok {
			t.Fatalf("CallTool(%s, %v): content %T; want only text", tool, args, c)
		}
		b.WriteString(tc.Text)
	}
	return b.String(), res.IsError
}

func TestToolsList(t *testing.T) {
	data, err := os.ReadFile("okta-mcp-server-tools.json")
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Tools []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			InputSchema any    `json:"inputSchema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Tools) != 21 {
		t.Fatalf("data file has %d tools; want 21", len(want.Tools))
	}

	cs := connect(t, New(nil))
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	if res.NextCursor != "" {
		t.Errorf("ListTools: NextCursor = %q; want one page", res.NextCursor)
	}
	got := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		got[tool.Name] = tool
	}
	if len(res.Tools) != len(want.Tools) || len(got) != len(want.Tools) {
		t.Errorf("ListTools returned %d tools (%d names); want %d", len(res.Tools), len(got), len(want.Tools))
	}
	for _, w := range want.Tools {
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("tool %s missing from tools/list", w.Name)
			continue
		}
		if g.Description != w.Description {
			t.Errorf("tool %s: description %q; want %q", w.Name, g.Description, w.Description)
		}
		// Round-trip the served schema through JSON to compare values,
		// not the client's decoded types.
		raw, err := json.Marshal(g.InputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var schema any
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(schema, w.InputSchema) {
			t.Errorf("tool %s: inputSchema\n%s\nwant\n%v", w.Name, raw, w.InputSchema)
		}
		if g.Annotations != nil || g.OutputSchema != nil || g.Title != "" {
			t.Errorf("tool %s: has annotations, output schema or title the real server does not send", w.Name)
		}
	}
	if names := ToolNames(); len(names) != 21 || names[0] != want.Tools[0].Name || names[20] != want.Tools[20].Name {
		t.Errorf("ToolNames() = %v; want the data file's order", names)
	}
}

// fixture finds seeded objects by name, so tests need not know IDs.
type fixture struct{ s *Sim }

func (f fixture) user(login string) string {
	id, ok := f.s.UserID(login + "@" + orgDomain)
	if !ok {
		panic("no seeded user " + login)
	}
	return id
}

func (f fixture) group(name string) string {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	for _, g := range f.s.dir.groups {
		if g.name == name {
			return g.id
		}
	}
	panic("no group " + name)
}

func (f fixture) app(label string) string {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	for _, a := range f.s.dir.apps {
		if a.label == label {
			return a.id
		}
	}
	panic("no app " + label)
}

// step is one tool call of a scenario and what its result must say; check,
// if set, runs after the call.
type step struct {
	tool    string
	args    any // or func() any, for IDs that earlier steps create
	wantErr bool
	want    []string
	notWant []string
	check   func(t *testing.T, f fixture)
}

type m = map[string]any

func runScenarios(t *testing.T, tests []struct {
	name  string
	steps func(f fixture) []step
}) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil)
			f := fixture{s}
			cs := connect(t, s)
			for i, st := range tt.steps(f) {
				if lazy, ok := st.args.(func() any); ok {
					st.args = lazy()
				}
				text, isErr := call(t, cs, st.tool, st.args)
				if isErr != st.wantErr {
					t.Fatalf("step %d: %s(%v) isError = %v; want %v\n%s", i, st.tool, st.args, isErr, st.wantErr, text)
				}
				for _, w := range st.want {
					if !strings.Contains(text, w) {
						t.Errorf("step %d: %s(%v) = %q; want it to contain %q", i, st.tool, st.args, text, w)
					}
				}
				for _, w := range st.notWant {
					if strings.Contains(text, w) {
						t.Errorf("step %d: %s(%v) = %q; want it not to contain %q", i, st.tool, st.args, text, w)
					}
				}
				if st.check != nil {
					st.check(t, f)
				}
			}
		})
	}
}

func TestUserTools(t *testing.T) {
	runScenarios(t, []struct {
		name  string
		steps func(f fixture) []step
	}{
		{"get_user by ID", func(f fixture) []step {
			return []step{{tool: "get_user", args: m{"userId": f.user("maya.chen")},
				want: []string{"ID: " + f.user("maya.chen"), "Status: ACTIVE", "Title: Chief Executive Officer",
					"Leadership (" + f.group("Leadership") + ")", "Slack (" + f.app("Slack") + ")"}}}
		}},
		{"get_user by login", func(f fixture) []step {
			return []step{{tool: "get_user", args: m{"userId": "Liam.OBrien@northwind.example"},
				want: []string{"Last Name: O'Brien", "Manager: Daniel Okafor (" + f.user("daniel.okafor") + ")"}}}
		}},
		{"get_user unknown", func(fixture) []step {
			return []step{{tool: "get_user", args: m{"userId": "00uNOPE"}, wantErr: true,
				want: []string{`Failed to get user: user "00uNOPE" not found`}}}
		}},
		{"get_user missing userId", func(fixture) []step {
			return []step{{tool: "get_user", args: m{}, wantErr: true, want: []string{"userId is required"}}}
		}},
		{"get_user argument names are case-sensitive", func(f fixture) []step {
			return []step{{tool: "get_user", args: m{"UserId": f.user("maya.chen")}, wantErr: true, want: []string{"userId is required"}}}
		}},
		{"get_user wrong type", func(fixture) []step {
			return []step{{tool: "get_user", args: m{"userId": 7}, wantErr: true, want: []string{"userId must be a string"}}}
		}},
		{"arguments not an object", func(fixture) []step {
			return []step{{tool: "get_user", args: json.RawMessage(`[1]`), wantErr: true, want: []string{"arguments must be a JSON object"}}}
		}},
		{"list_users leaves deactivated users out", func(fixture) []step {
			return []step{{tool: "list_users", args: m{}, want: []string{"Total users: 35", "Maya Chen"}, notWant: []string{"Victor Huang"}}}
		}},
		{"list_users filter", func(fixture) []step {
			return []step{
				{tool: "list_users", args: m{"filter": `status eq "SUSPENDED"`}, want: []string{"Lucia Fernandez", "Total users: 1"}},
				{tool: "list_users", args: m{"filter": `status eq "DEPROVISIONED"`}, want: []string{"Victor Huang", "Total users: 1"}},
				{tool: "list_users", args: m{"filter": `profile.department eq "Engineering" and (profile.city eq "Seattle" or profile.city eq "Denver")`},
					want: []string{"Total users: 6", "Noah Fischer", "Fatima Zahra"}},
				{tool: "list_users", args: m{"filter": `profile.department eq "Nowhere"`}, want: []string{"No users found matching your criteria."}},
			}
		}},
		{"list_users bad filter", func(fixture) []step {
			return []step{{tool: "list_users", args: m{"filter": `status eq`}, wantErr: true, want: []string{"Failed to list users: invalid filter"}}}
		}},
		{"list_users search", func(fixture) []step {
			return []step{
				{tool: "list_users", args: m{"search": "seattle"}, want: []string{"Total users: 5"}},
				{tool: "list_users", args: m{"search": "software engineer austin"}, want: []string{"Diego Santos", "Total users: 1"}},
				{tool: "list_users", args: m{"search": `profile.lastName sw "O"`}, want: []string{"Daniel Okafor", "Liam O'Brien", "Samuel Osei", "Total users: 3"}},
			}
		}},
		{"list_users sort", func(fixture) []step {
			return []step{
				{tool: "list_users", args: m{"sortBy": "profile.lastName", "sortOrder": "desc", "limit": 1}, want: []string{"1. Fatima Zahra"}},
				{tool: "list_users", args: m{"sortBy": "lastName", "limit": 1}, want: []string{"1. Henry Adams"}},
				{tool: "list_users", args: m{"sortOrder": "sideways"}, wantErr: true, want: []string{"sortOrder"}},
			}
		}},
		{"list_users bad limits", func(fixture) []step {
			return []step{
				{tool: "list_users", args: m{"limit": 0}, wantErr: true, want: []string{"limit must be a whole number from 1 to 200"}},
				{tool: "list_users", args: m{"limit": 201}, wantErr: true, want: []string{"limit"}},
				{tool: "list_users", args: m{"limit": 2.5}, wantErr: true, want: []string{"limit"}},
				{tool: "list_users", args: m{"limit": "10"}, wantErr: true, want: []string{"limit must be a number"}},
				{tool: "list_users", args: m{"after": "00uNOPE"}, wantErr: true, want: []string{"after cursor"}},
			}
		}},
		{"find_users_by_attribute", func(fixture) []step {
			return []step{
				{tool: "find_users_by_attribute", args: m{"attribute": "department", "value": "Engineering"}, want: []string{"Found 11 users"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "manager", "value": "Liam O'Brien"}, want: []string{"Found 5 users", "Olivia Park"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "department", "value": "sales"},
					want: []string{"Found 5 users"}, notWant: []string{"Lucia Fernandez"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "profile.department", "value": "Sales", "includeInactive": true},
					want: []string{"Found 6 users", "Lucia Fernandez"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "title", "operator": "co", "value": "engineer", "limit": 3},
					want: []string{"Found 3 users", "raise limit"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "userType", "operator": "ew", "value": "tractor"},
					want: []string{"Found 3 users"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "nickName", "operator": "pr", "value": ""},
					want: []string{"No users found where nickName pr"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "city", "operator": "like", "value": "x"}, wantErr: true, want: []string{"operator"}},
				{tool: "find_users_by_attribute", args: m{"attribute": "city"}, wantErr: true, want: []string{"value is required"}},
			}
		}},
		{"create_user", func(fixture) []step {
			return []step{
				{tool: "create_user", args: m{"firstName": "Ada", "lastName": "Byron", "email": "ada.byron@northwind.example"},
					want: []string{"User created successfully", "Login: ada.byron@northwind.example", "Status: STAGED"}},
				{tool: "get_user", args: m{"userId": "ada.byron@northwind.example"},
					want: []string{"Status: STAGED", "Display Name: Ada Byron", "Everyone ("}},
				{tool: "list_users", args: m{}, want: []string{"Total users: 36", "Ada Byron"}},
				{tool: "create_user", args: m{"firstName": "Alan", "lastName": "Turing", "email": "alan@northwind.example", "login": "aturing", "activate": true},
					want: []string{"Login: aturing", "Status: ACTIVE"}},
				{tool: "create_user", args: m{"firstName": "Maya", "lastName": "Chen", "email": "Maya.Chen@northwind.example"},
					wantErr: true, want: []string{"already exists"}},
				{tool: "create_user", args: m{"firstName": "No", "lastName": "Mail", "email": "not-an-email"}, wantErr: true, want: []string{"not a valid email"}},
				{tool: "create_user", args: m{"firstName": "No", "email": "no@northwind.example"}, wantErr: true, want: []string{"lastName is required"}},
			}
		}},
		{"lifecycle", func(fixture) []step {
			const u = "grace.hopper@northwind.example"
			return []step{
				{tool: "create_user", args: m{"firstName": "Grace", "lastName": "Hopper", "email": u}, want: []string{"Status: STAGED"}},
				{tool: "suspend_user", args: m{"userId": u}, wantErr: true, want: []string{"Failed to suspend user: cannot suspend user", "status is STAGED; only ACTIVE users can be suspended"}},
				{tool: "delete_user", args: m{"userId": u}, wantErr: true, want: []string{"deactivate the user before deleting it"}},
				{tool: "activate_user", args: m{"userId": u}, want: []string{"has been activated successfully. An activation email has been sent."}},
				{tool: "activate_user", args: m{"userId": u, "sendEmail": false}, wantErr: true, want: []string{"status is ACTIVE"}},
				{tool: "suspend_user", args: m{"userId": u}, want: []string{"has been suspended."}},
				{tool: "get_user", args: m{"userId": u}, want: []string{"Status: SUSPENDED"}},
				{tool: "activate_user", args: m{"userId": u}, wantErr: true, want: []string{"status is SUSPENDED"}},
				{tool: "unsuspend_user", args: m{"userId": u}, want: []string{"has been unsuspended and is now active."}},
				{tool: "unsuspend_user", args: m{"userId": u}, wantErr: true, want: []string{"only SUSPENDED users can be unsuspended"}},
				{tool: "deactivate_user", args: m{"userId": u}, want: []string{"has been deactivated."}},
				{tool: "deactivate_user", args: m{"userId": u}, wantErr: true, want: []string{"status is DEPROVISIONED"}},
				{tool: "list_users", args: m{}, want: []string{"Total users: 35"}},
				{tool: "delete_user", args: m{"userId": u}, want: []string{"has been permanently deleted."}},
				{tool: "get_user", args: m{"userId": u}, wantErr: true, want: []string{"not found"}},
				{tool: "get_group", args: m{"groupId": "00gNOPE"}, wantErr: true},
			}
		}},
		{"reactivate a leaver", func(f fixture) []step {
			return []step{
				{tool: "activate_user", args: m{"userId": f.user("victor.huang"), "sendEmail": false},
					want: []string{"activated successfully."}, notWant: []string{"email"}},
				{tool: "list_users", args: m{}, want: []string{"Victor Huang", "Total users: 36"}},
			}
		}},
		{"delete a seeded user", func(f fixture) []step {
			return []step{
				{tool: "delete_user", args: m{"userId": f.user("victor.huang")}, want: []string{"permanently deleted"}},
				{tool: "get_group", args: m{"groupId": f.group("Everyone")}, want: []string{"Members: 35"}},
			}
		}},
		{"get_user_last_location", func(f fixture) []step {
			return []step{
				{tool: "get_user_last_location", args: m{"userId": f.user("maya.chen")},
					want: []string{"Last Login Information for User maya.chen@northwind.example", "City: San Francisco", "State: CA", "Country: United States", "IP Address: "}},
				{tool: "get_user_last_location", args: m{"userId": f.user("olivia.park")}, want: []string{"No login events found for user olivia.park@northwind.example"}},
				{tool: "get_user_last_location", args: m{"userId": "nobody"}, wantErr: true, want: []string{"Failed to fetch user location"}},
			}
		}},
	})
}

func TestGroupTools(t *testing.T) {
	runScenarios(t, []struct {
		name  string
		steps func(f fixture) []step
	}{
		{"list_groups", func(fixture) []step {
			return []step{
				{tool: "list_groups", args: m{}, want: []string{"Total groups: 11", "1. Everyone", "Type: BUILT_IN", "Members: 36"}},
				{tool: "list_groups", args: m{"filter": `type eq "OKTA_GROUP"`}, want: []string{"Total groups: 10"}, notWant: []string{"BUILT_IN"}},
				{tool: "list_groups", args: m{"search": "engineers"}, want: []string{"1. Engineering", "Total groups: 1"}},
				{tool: "list_groups", args: m{"search": `profile.name sw "c"`}, want: []string{"Customer Success", "Contractors", "Total groups: 2"}},
				{tool: "list_groups", args: m{"sortBy": "profile.name", "limit": 2}, want: []string{"1. Contractors", "2. Customer Success", "For next page"}},
			}
		}},
		{"create, get and delete", func(f fixture) []step {
			return []step{
				{tool: "create_group", args: m{"name": "Interns", "description": "Summer interns"},
					want: []string{"Group created successfully", "Name: Interns", "Type: OKTA_GROUP"}},
				{tool: "create_group", args: m{"name": "interns"}, wantErr: true, want: []string{`a group named "Interns" already exists`}},
				{tool: "create_group", args: m{"name": " "}, wantErr: true, want: []string{"name is required"}},
				{tool: "list_groups", args: m{"search": "interns"}, want: []string{"Summer interns", "Members: 0"}},
				{tool: "get_group", args: m{"groupId": f.group("Engineering")},
					want: []string{"Name: Engineering", "Members: 11", "Type: OKTA_GROUP"}},
				{tool: "get_group", args: m{"groupId": "00gNOPE"}, wantErr: true, want: []string{`Failed to get group: group "00gNOPE" not found`}},
				{tool: "delete_group", args: m{"groupId": f.group("Everyone")}, wantErr: true, want: []string{"built in"}},
				{tool: "delete_group", args: m{"groupId": f.group("Contractors")}, want: []string{"successfully deleted"}},
				{tool: "get_group", args: m{"groupId": f.group("Engineering")}, want: []string{"Members: 11"}},
				{tool: "list_groups", args: m{}, want: []string{"Total groups: 11"}, notWant: []string{"Contractors"}},
				{tool: "get_user", args: m{"userId": f.user("noah.fischer")}, notWant: []string{"Contractors"}},
			}
		}},
		{"membership", func(f fixture) []step {
			eng, maya := f.group("Engineering"), f.user("maya.chen")
			return []step{
				{tool: "assign_user_to_group", args: m{"groupId": eng, "userId": maya}, want: []string{"has been successfully assigned to group with ID " + eng}},
				{tool: "assign_user_to_group", args: m{"groupId": eng, "userId": maya}, want: []string{"already a member"}},
				{tool: "get_group", args: m{"groupId": eng}, want: []string{"Members: 12"}},
				{tool: "list_group_users", args: m{"groupId": eng}, want: []string{"Maya Chen", "Total users in group: 12"}},
				{tool: "get_user", args: m{"userId": maya}, want: []string{"Engineering (" + eng + ")"}},
				{tool: "remove_user_from_group", args: m{"groupId": eng, "userId": maya}, want: []string{"successfully removed"}},
				{tool: "remove_user_from_group", args: m{"groupId": eng, "userId": maya}, want: []string{"not a member"}},
				{tool: "list_group_users", args: m{"groupId": eng}, notWant: []string{"Maya Chen"}},
				{tool: "assign_user_to_group", args: m{"groupId": f.group("Everyone"), "userId": maya}, wantErr: true, want: []string{"managed by Okta"}},
				{tool: "assign_user_to_group", args: m{"groupId": eng, "userId": "nobody"}, wantErr: true, want: []string{`user "nobody" not found`}},
				{tool: "assign_user_to_group", args: m{"groupId": "00gNOPE", "userId": maya}, wantErr: true, want: []string{"not found"}},
			}
		}},
		{"list_group_users paging", func(f fixture) []step {
			eng := f.group("Engineering")
			return []step{
				{tool: "list_group_users", args: m{"groupId": eng, "limit": 10},
					want: []string{"Total users shown: 10", "after' parameter with value: " + f.user("noah.fischer")}},
				{tool: "list_group_users", args: m{"groupId": eng, "limit": 10, "after": f.user("noah.fischer")},
					want: []string{"1. Olivia Park", "Total users in group: 1"}},
				{tool: "create_group", args: m{"name": "Empty"}},
				{tool: "list_group_users", args: func() any { return m{"groupId": f.group("Empty")} }, want: []string{"No users found in this group."}},
				{tool: "list_group_users", args: m{"groupId": eng, "after": "00uNOPE"}, wantErr: true, want: []string{"after cursor"}},
			}
		}},
	})
}

func TestOnboardingTools(t *testing.T) {
	const csv3 = "firstName,lastName,email,department,title\n" +
		"Ann,Lee,ann.lee@northwind.example,Engineering,Software Engineer\n" +
		"Bo,Diaz,bo.diaz@northwind.example,Sales,Account Executive\n" +
		`"Cy","O'Neil, Jr.",cy.oneil@northwind.example,Engineering,"SRE, Platform"` + "\n"
	assignments := func(want int) func(*testing.T, fixture) {
		return func(t *testing.T, f fixture) {
			t.Helper()
			if got := f.s.Assignments(); got != want {
				t.Errorf("Assignments() = %d; want %d", got, want)
			}
		}
	}
	seeded := New(nil).Assignments()
	runScenarios(t, []struct {
		name  string
		steps func(f fixture) []step
	}{
		{"bulk_user_import", func(f fixture) []step {
			return []step{
				{tool: "bulk_user_import", args: m{"csvData": csv3, "defaultGroups": []string{f.group("Managers")}},
					want: []string{"Processed 3 users from CSV data", "Successfully created: 3", "Failed: 0", "Status: STAGED", "Created users were added to: Managers"}},
				{tool: "get_user", args: m{"userId": "cy.oneil@northwind.example"},
					want: []string{"Last Name: O'Neil, Jr.", "Title: SRE, Platform", "Managers ("}},
				{tool: "list_users", args: m{}, want: []string{"Total users: 38"}},
			}
		}},
		{"bulk_user_import activates and tolerates bad rows", func(fixture) []step {
			return []step{
				{tool: "bulk_user_import", args: m{"activateUsers": true, "csvData": "First Name,Last Name,E-mail\n" +
					"Dee,Ray,dee.ray@northwind.example\nEd,,ed@northwind.example\nMaya,Chen,maya.chen@northwind.example\n"},
					want: []string{"Successfully created: 1", "Failed: 2", "Status: ACTIVE", "ed@northwind.example - lastName is required", "already exists"}},
				{tool: "get_user", args: m{"userId": "dee.ray@northwind.example"}, want: []string{"Status: ACTIVE"}},
			}
		}},
		{"bulk_user_import errors", func(f fixture) []step {
			return []step{
				{tool: "bulk_user_import", args: m{"csvData": "firstName,lastName,email\nEd,,\n"}, wantErr: true,
					want: []string{"Failed to import users: no users were created", "Failed: 1"}},
				{tool: "bulk_user_import", args: m{"csvData": "firstName,lastName,email\n\"Ann,Lee,ann@northwind.example\n"}, wantErr: true,
					want: []string{"invalid CSV"}},
				{tool: "bulk_user_import", args: m{"csvData": "firstName,lastName,email\nAnn,Lee\n"}, wantErr: true,
					want: []string{"invalid CSV", "wrong number of fields"}},
				{tool: "bulk_user_import", args: m{"csvData": "name,mail\nAnn,ann@northwind.example\n"}, wantErr: true,
					want: []string{"CSV header must include firstName, lastName and email columns"}},
				{tool: "bulk_user_import", args: m{"csvData": "firstName,lastName,email\n"}, wantErr: true, want: []string{"no user rows"}},
				{tool: "bulk_user_import", args: m{"csvData": ""}, wantErr: true, want: []string{"csvData is required"}},
				{tool: "bulk_user_import", args: m{"csvData": csv3, "defaultGroups": []string{"00gNOPE"}}, wantErr: true,
					want: []string{`group "00gNOPE" not found; nothing was changed`}},
				{tool: "bulk_user_import", args: m{"csvData": csv3, "defaultGroups": []string{f.group("Everyone")}}, wantErr: true,
					want: []string{"managed by Okta"}},
				{tool: "list_users", args: m{}, want: []string{"Total users: 35"}},
			}
		}},
		{"assign_users_to_groups", func(f fixture) []step {
			ids := []string{f.user("aisha.mohammed"), f.user("ethan.wright"), f.user("maya.chen"), f.user("jake.morrison")}
			return []step{
				{tool: "create_group", args: m{"name": "Seattle Office"}},
				{tool: "assign_users_to_groups", args: func() any {
					return m{"userIds": ids, "attributeMapping": m{
						"city":       m{"seattle": f.group("Seattle Office")},
						"department": m{"Sales": f.group("Customer Success")},
					}}
				}, want: []string{"Processed group assignments for 4 users", "Users assigned to groups: 3", "Users with no matching group mapping: 1",
					"maya.chen@northwind.example (no group mappings matched user attributes)", "jake.morrison@northwind.example (assigned to Customer Success)"}},
				{tool: "get_group", args: m{"groupId": f.group("Customer Success")}, want: []string{"Members: 4"}},
				{tool: "list_groups", args: m{"search": "seattle"}, want: []string{"Members: 2"}},
				{tool: "assign_users_to_groups", args: m{"userIds": []string{"nobody"}, "attributeMapping": m{"city": m{"Seattle": f.group("IT")}}},
					wantErr: true, want: []string{`invalid user "nobody" (not found); nothing was changed`}},
				{tool: "assign_users_to_groups", args: m{"userIds": ids, "attributeMapping": m{"city": "Seattle"}},
					wantErr: true, want: []string{"attributeMapping must be an object"}},
				{tool: "assign_users_to_groups", args: m{"userIds": ids, "attributeMapping": m{}},
					wantErr: true, want: []string{"at least one attribute"}},
				{tool: "assign_users_to_groups", args: m{"userIds": ids, "attributeMapping": m{"city": m{"Seattle": "00gNOPE"}}},
					wantErr: true, want: []string{"not found"}},
			}
		}},
		{"provision_applications", func(f fixture) []step {
			users := []string{f.user("olivia.park"), f.user("zoe.turner")}
			apps := []string{f.app("Slack"), f.app("GitHub Enterprise Cloud")}
			return []step{
				{tool: "provision_applications", args: m{"userIds": users, "applicationIds": apps},
					want:  []string{"for 2 users across 2 applications", "Assignments: 4 (new: 4, already assigned: 0)", "olivia.park@northwind.example (provisioned 2 applications)"},
					check: assignments(seeded + 4)},
				{tool: "get_user", args: m{"userId": users[0]}, want: []string{"Slack (" + apps[0] + ")", "GitHub Enterprise Cloud ("}},
				{tool: "provision_applications", args: m{"userIds": append(users, users[0]), "applicationIds": apps},
					want: []string{"Assignments: 4 (new: 0, already assigned: 4)"}, check: assignments(seeded + 4)},
				{tool: "provision_applications", args: m{"userIds": []string{users[0], f.user("victor.huang")}, "applicationIds": []string{f.app("Zoom")}},
					wantErr: true, want: []string{"(deactivated); nothing was changed"}, check: assignments(seeded + 4)},
				{tool: "provision_applications", args: m{"userIds": users, "applicationIds": []string{"0oaNOPE"}},
					wantErr: true, want: []string{`application "0oaNOPE" not found`}, check: assignments(seeded + 4)},
				{tool: "provision_applications", args: m{"userIds": []string{}, "applicationIds": apps},
					wantErr: true, want: []string{"userIds must list at least one ID"}},
				{tool: "provision_applications", args: m{"userIds": users}, wantErr: true, want: []string{"applicationIds must list at least one ID"}},
			}
		}},
		{"run_onboarding_workflow", func(f fixture) []step {
			return []step{
				{tool: "run_onboarding_workflow", args: m{
					"csvData":        csv3,
					"defaultGroups":  []string{f.group("Contractors")},
					"groupMappings":  m{"department": m{"Engineering": f.group("Engineering"), "Sales": f.group("Sales")}},
					"applicationIds": []string{f.app("Slack"), f.app("Zoom")},
				}, want: []string{"Onboarding Workflow Complete", "Successfully created: 3", "Status: ACTIVE",
					"Users assigned to groups: 3", "New memberships: 3", "Users provisioned with applications: 3", "New assignments: 6",
					"successfully onboarded 3 out of 3 users with attribute-based group assignment and application provisioning"},
					check: func(t *testing.T, f fixture) {
						assignments(seeded+6)(t, f)
						if n := f.s.Calls("provision_applications"); n != 0 {
							t.Errorf(`Calls("provision_applications") = %d; want 0 (the workflow is one call)`, n)
						}
					}},
				{tool: "get_group", args: m{"groupId": f.group("Engineering")}, want: []string{"Members: 13"}},
				{tool: "get_user", args: m{"userId": "bo.diaz@northwind.example"}, want: []string{"Sales (", "Contractors (", "Zoom ("}},
				{tool: "run_onboarding_workflow", args: m{"csvData": "firstName,lastName,email\nNew,Person,new.person@northwind.example\n", "activateUsers": false},
					want: []string{"Status: STAGED", "Group Assignment: Not configured", "Application Provisioning: Not configured", "default groups only and no application provisioning"}},
				{tool: "run_onboarding_workflow", args: m{"csvData": csv3}, wantErr: true,
					want: []string{"Failed to complete onboarding workflow: no users were successfully created", "already exists"}},
				{tool: "run_onboarding_workflow", args: m{"csvData": "just,a,line"}, wantErr: true, want: []string{"CSV header must include"}},
				{tool: "run_onboarding_workflow", args: m{"csvData": csv3, "applicationIds": []string{"0oaNOPE"}}, wantErr: true, want: []string{"not found"}},
			}
		}},
	})
}

func TestListUsersPaging(t *testing.T) {
	s := New(nil)
	cs := connect(t, s)
	idLine := regexp.MustCompile(`(?m)^ - ID: (\S+)$`)
	next := regexp.MustCompile(`value: (\S+)`)
	var seen []string
	after := ""
	for page := 0; ; page++ {
		args := m{"limit": 10}
		if after != "" {
			args["after"] = after
		}
		text, isErr := call(t, cs, "list_users", args)
		if isErr {
			t.Fatalf("list_users(%v): %s", args, text)
		}
		for _, mm := range idLine.FindAllStringSubmatch(text, -1) {
			seen = append(seen, mm[1])
		}
		mm := next.FindStringSubmatch(text)
		if mm == nil {
			break
		}
		after = mm[1]
		if page > 10 {
			t.Fatal("paging does not end")
		}
	}
	var want []string
	for _, id := range s.UserIDs() {
		if id != (fixture{s}).user("victor.huang") {
			want = append(want, id)
		}
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("paging through list_users saw %d users %v; want %d %v", len(seen), seen, len(want), want)
	}
}

func TestSeededOrg(t *testing.T) {
	s := New(nil)
	if n := len(s.UserIDs()); n != 36 {
		t.Errorf("len(UserIDs()) = %d; want 36", n)
	}
	if n := len(s.GroupIDs()); n != 11 {
		t.Errorf("len(GroupIDs()) = %d; want 11", n)
	}
	if n := len(s.AppIDs()); n != 12 {
		t.Errorf("len(AppIDs()) = %d; want 12", n)
	}
	idRE := regexp.MustCompile(`^(00u|00g|0oa)[0-9A-Za-z]{17}$`)
	for _, id := range append(append(s.UserIDs(), s.GroupIDs()...), s.AppIDs()...) {
		if !idRE.MatchString(id) {
			t.Errorf("ID %q is not Okta-shaped", id)
		}
	}
	for _, u := range s.dir.users {
		if mgr := u.profile["manager"]; mgr != "" {
			m, ok := s.dir.users[u.profile["managerId"]]
			if !ok || m.profile["displayName"] != mgr {
				t.Errorf("user %s: manager %q has managerId %q", u.profile["login"], mgr, u.profile["managerId"])
			}
		}
	}
	if s.Assignments() == 0 {
		t.Error("Assignments() = 0; want seeded assignments")
	}
}

// TestDeterministic checks that two Sims print the same IDs and text, so
// demos and golden files stay stable.
func TestDeterministic(t *testing.T) {
	a, b := New(nil), New(nil)
	if !reflect.DeepEqual(a.UserIDs(), b.UserIDs()) || !reflect.DeepEqual(a.AppIDs(), b.AppIDs()) || !reflect.DeepEqual(a.GroupIDs(), b.GroupIDs()) {
		t.Fatal("two seeded Sims have different IDs")
	}
	ca, cb := connect(t, a), connect(t, b)
	csv := "firstName,lastName,email\nAnn,Lee,ann.lee@northwind.example\n"
	for _, c := range []struct {
		tool string
		args m
	}{
		{"bulk_user_import", m{"csvData": csv, "activateUsers": true}},
		{"list_users", m{"limit": 200}},
		{"get_user", m{"userId": "ann.lee@northwind.example"}},
		{"get_user_last_location", m{"userId": a.UserIDs()[5]}},
		{"list_groups", m{}},
	} {
		ta, _ := call(t, ca, c.tool, c.args)
		tb, _ := call(t, cb, c.tool, c.args)
		if ta != tb {
			t.Errorf("%s(%v) differs between two Sims:\n%s\n---\n%s", c.tool, c.args, ta, tb)
		}
	}
}

func TestInjectedClock(t *testing.T) {
	at := seedTime.AddDate(1, 0, 0)
	s := New(&Options{Now: func() time.Time { return at }})
	text, _ := call(t, connect(t, s), "create_user", m{"firstName": "A", "lastName": "B", "email": "a.b@northwind.example"})
	if want := "Created: " + at.Format(timeFormat); !strings.Contains(text, want) {
		t.Errorf("create_user = %q; want it to contain %q", text, want)
	}
}

// TestServersShareOrg checks that sessions on different servers of one Sim
// see one directory and one set of counters.
func TestServersShareOrg(t *testing.T) {
	s := New(nil)
	c1, c2 := connect(t, s), connect(t, s)
	if _, isErr := call(t, c1, "create_group", m{"name": "Shared"}); isErr {
		t.Fatal("create_group failed")
	}
	if text, _ := call(t, c2, "list_groups", m{"search": "shared"}); !strings.Contains(text, "1. Shared") {
		t.Errorf("second session's list_groups = %q; want the group the first created", text)
	}
	call(t, c2, "get_user", m{"userId": "nobody"})
	if got := s.Calls("create_group") + s.Calls("list_groups") + s.Calls("get_user"); got != 3 {
		t.Errorf("calls counted = %d; want 3", got)
	}
	if got := s.Calls("no_such_tool"); got != 0 {
		t.Errorf(`Calls("no_such_tool") = %d; want 0`, got)
	}
}

// TestConcurrentProvisioning runs many provision_applications calls at once
// over several sessions and servers; run it with -race. The call counter
// and the assignments must both come out exact.
func TestConcurrentProvisioning(t *testing.T) {
	s := New(nil)
	var rows strings.Builder
	rows.WriteString("firstName,lastName,email\n")
	for i := range 20 {
		fmt.Fprintf(&rows, "Temp,User%02d,temp.user%02d@northwind.example\n", i, i)
	}
	setup := connect(t, s)
	if text, isErr := call(t, setup, "bulk_user_import", m{"csvData": rows.String(), "activateUsers": true}); isErr {
		t.Fatalf("bulk_user_import: %s", text)
	}
	var users []string
	for i := range 20 {
		id, ok := s.UserID(fmt.Sprintf("temp.user%02d@northwind.example", i))
		if !ok {
			t.Fatalf("imported user %d missing", i)
		}
		users = append(users, id)
	}
	apps := s.AppIDs()
	before := s.Assignments()

	const sessions, callsPer = 8, 25
	clients := make([]*mcp.ClientSession, sessions)
	for i := range clients {
		clients[i] = connect(t, s)
	}
	pairs := map[[2]string]bool{}
	var wg sync.WaitGroup
	errs := make(chan string, sessions*callsPer)
	for c := range sessions {
		for k := range callsPer {
			n := c*callsPer + k
			u, a := users[n%len(users)], apps[n%len(apps)]
			pairs[[2]string{u, a}] = true
			wg.Go(func() {
				res, err := clients[c].CallTool(t.Context(), &mcp.CallToolParams{
					Name:      "provision_applications",
					Arguments: m{"userIds": []string{u}, "applicationIds": []string{a}},
				})
				if err != nil || res.IsError {
					errs <- fmt.Sprintf("call %d: err %v, result %+v", n, err, res)
				}
			})
			if k%5 == 0 { // readers alongside the writers
				wg.Go(func() {
					if _, err := clients[c].CallTool(t.Context(), &mcp.CallToolParams{Name: "list_users", Arguments: m{"limit": 200}}); err != nil {
						errs <- err.Error()
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := s.Calls("provision_applications"); got != sessions*callsPer {
		t.Errorf(`Calls("provision_applications") = %d; want %d`, got, sessions*callsPer)
	}
	if got, want := s.Assignments(), before+len(pairs); got != want {
		t.Errorf("Assignments() = %d; want %d (%d before + %d distinct pairs)", got, want, before, len(pairs))
	}
}
