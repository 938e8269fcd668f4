package catalog_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/catalog"
)

func ptr[T any](v T) *T { return &v }

// schema returns an input schema with the given properties, each "name:type".
func schema(props ...string) map[string]any {
	p := map[string]any{}
	for _, s := range props {
		name, typ, _ := strings.Cut(s, ":")
		p[name] = map[string]any{"type": typ}
	}
	return map[string]any{"type": "object", "properties": p}
}

func TestClassify(t *testing.T) {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true}
	notDestructive := &mcp.ToolAnnotations{DestructiveHint: ptr(false)}
	for _, tt := range []struct {
		name    string
		tool    *mcp.Tool
		trusted bool
		want    string
		signal  string // a signal the class must list, if not ""
	}{
		// Verbs in names, in every case and position.
		{"read", &mcp.Tool{Name: "get_user"}, false, "Read/Low", `name: verb "get": Read`},
		{"camelCase", &mcp.Tool{Name: "getUserById"}, false, "Read/Low", ""},
		{"kebab-case", &mcp.Tool{Name: "list-open-issues"}, false, "Read/Low", ""},
		{"server prefix", &mcp.Tool{Name: "okta_delete_user"}, false, "Destructive/Critical", ""},
		{"verb last", &mcp.Tool{Name: "user_delete"}, false, "Destructive/Critical", ""},
		{"conjunction", &mcp.Tool{Name: "get_or_create_user"}, false, "Write/Medium", `name: verb "create": Write`},
		{"later verb is a noun", &mcp.Tool{Name: "get_workflow_run"}, false, "Read/Low", ""},
		{"noun without verb", &mcp.Tool{Name: "onboarding_workflow"}, false, "Execute/Medium", `name: "workflow": Execute`},
		{"no verb", &mcp.Tool{Name: "echo"}, false, "Write/Low", "name: no known verb: Write"},
		{"nil tool", nil, false, "Write/Low", ""},

		// Financial.
		{"financial noun after a write", &mcp.Tool{Name: "create_invoice"}, false, "Financial/High", `name: "invoice": Financial`},
		{"financial noun after a read", &mcp.Tool{Name: "get_invoice"}, false, "Read/Low", ""},
		{"money out", &mcp.Tool{Name: "transfer_funds"}, false, "Financial/Critical", `name: "transfer" (money out): Critical`},
		{"refund", &mcp.Tool{Name: "refund_charge"}, false, "Financial/High", ""},
		{"payment without verb", &mcp.Tool{Name: "stripe_payment"}, false, "Financial/Critical", ""},

		// Execute and code.
		{"run", &mcp.Tool{Name: "run_job"}, false, "Execute/Medium", ""},
		{"command", &mcp.Tool{Name: "execute_command"}, false, "Execute/Critical", `name: "command" (runs code): Critical`},
		{"sql input", &mcp.Tool{Name: "run_query", InputSchema: schema("sql:string")}, false, "Execute/Critical", "input: sql (runs code): Critical"},
		{"bulk execute", &mcp.Tool{Name: "run_batch"}, false, "Execute/High", ""},

		// Destructive severities.
		{"file", &mcp.Tool{Name: "delete_file"}, false, "Destructive/High", ""},
		{"collection", &mcp.Tool{Name: "drop_table"}, false, "Destructive/Critical", `name: "table" (holds many): Critical`},
		{"relation", &mcp.Tool{Name: "remove_member_from_team"}, false, "Destructive/High", ""},
		{"bulk destructive", &mcp.Tool{Name: "bulk_delete_files"}, false, "Destructive/Critical", ""},
		{"reset password", &mcp.Tool{Name: "reset_password"}, false, "Destructive/Critical", ""},
		{"revoke token", &mcp.Tool{Name: "revoke_api_token"}, false, "Destructive/Critical", ""},

		// Write severities.
		{"plain write", &mcp.Tool{Name: "create_note"}, false, "Write/Low", ""},
		{"account", &mcp.Tool{Name: "update_user"}, false, "Write/Medium", `name: "user" (accounts): Medium`},
		{"access", &mcp.Tool{Name: "grant_access"}, false, "Write/Medium", `name: verb "grant" (grants access): Medium`},
		{"external", &mcp.Tool{Name: "send_message"}, false, "Write/Medium", `name: verb "send" (outside systems): Medium`},
		{"secret", &mcp.Tool{Name: "set_password"}, false, "Write/High", `name: "password" (secrets): High`},
		{"privilege", &mcp.Tool{Name: "assign_admin_role"}, false, "Write/High", ""},
		{"privilege input", &mcp.Tool{Name: "update_member", InputSchema: schema("roleId:string")}, false, "Write/High", "input: roleId (privileges): High"},
		{"bulk input", &mcp.Tool{Name: "tag_items", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
			"itemIds": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}}}, false, "Write/Medium", "input: itemIds (bulk): Medium"},
		{"bulk input by description", &mcp.Tool{Name: "tag_items", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
			"targets": map[string]any{"type": "array", "description": "The item IDs to tag"}}}}, false, "Write/Medium", ""},
		{"raw schema", &mcp.Tool{Name: "import_rows", InputSchema: json.RawMessage(`{"type":"object","properties":{"csvData":{"type":"string"}}}`)}, false, "Write/Medium", "input: csvData (bulk): Medium"},

		// Read severities.
		{"read secrets", &mcp.Tool{Name: "get_secret"}, false, "Read/High", ""},
		{"page token is no secret", &mcp.Tool{Name: "list_items", InputSchema: schema("pageToken:string")}, false, "Read/Low", ""},
		{"token count is no secret", &mcp.Tool{Name: "summarize", InputSchema: schema("maxTokens:number")}, false, "Read/Low", ""},
		{"next page token in a description", &mcp.Tool{Name: "list_items", Description: "Lists items. Pass the next page token to continue."}, false, "Read/Low", ""},
		{"environment", &mcp.Tool{Name: "show_config", Description: "Shows the environment variables of the server"}, false, "Read/High", `description: "environment variables" (secrets): High`},
		{"personal data", &mcp.Tool{Name: "get_employee_salary"}, false, "Read/Medium", ""},
		{"location of no one", &mcp.Tool{Name: "get_weather_by_location"}, false, "Read/Low", ""},
		{"bulk read", &mcp.Tool{Name: "list_users", Description: "List all users"}, false, "Read/Low", ""},

		// Descriptions.
		{"description verb", &mcp.Tool{Name: "directory_tree", Description: "Get a recursive tree view."}, false, "Read/Low", `description: starts with "get": Read`},
		{"description verb after words", &mcp.Tool{Name: "records", Description: "Use this tool to delete records."}, false, "Destructive/High", ""},
		{"description verb inflected", &mcp.Tool{Name: "records", Description: "Fetches records."}, false, "Read/Low", ""},
		{"description verb too late", &mcp.Tool{Name: "records", Description: "This is a tool that one may use to delete records."}, false, "Write/Low", ""},
		{"description verb of a later sentence", &mcp.Tool{Name: "records", Description: "Records. Delete them."}, false, "Write/Low", ""},
		{"overwrite", &mcp.Tool{Name: "write_file", Description: "Create or overwrite a file."}, false, "Destructive/High", `description: "overwrite": Destructive`},
		{"permanently", &mcp.Tool{Name: "archive_thread", Description: "Permanently removes the thread."}, false, "Destructive/High", ""},

		// Annotations raise from any server.
		{"readOnlyHint false", &mcp.Tool{Name: "get_page", Annotations: &mcp.ToolAnnotations{OpenWorldHint: ptr(false)}}, false, "Write/Low", "annotation: readOnlyHint false: Write"},
		{"annotations without hints", &mcp.Tool{Name: "get_page", Annotations: &mcp.ToolAnnotations{Title: "Get page"}}, false, "Read/Low", ""},
		{"destructiveHint", &mcp.Tool{Name: "update_record", Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true)}}, false, "Destructive/High", "annotation: destructiveHint: Destructive"},
		{"destructiveHint on financial", &mcp.Tool{Name: "refund_charge", Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true)}}, false, "Financial/High", ""},
		{"openWorldHint", &mcp.Tool{Name: "create_post", Annotations: &mcp.ToolAnnotations{OpenWorldHint: ptr(true)}}, false, "Write/Medium", "annotation: openWorldHint (outside systems): Medium"},
		{"destructiveHint ignored when read-only", &mcp.Tool{Name: "get_page", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: ptr(true)}}, false, "Read/Low", ""},

		// Annotations lower only for a trusted server.
		{"readOnlyHint untrusted", &mcp.Tool{Name: "echo", Annotations: readOnly}, false, "Write/Low", "annotation: readOnlyHint: ignored, server not trusted"},
		{"readOnlyHint trusted", &mcp.Tool{Name: "echo", Annotations: readOnly}, true, "Read/Low", "annotation: readOnlyHint: Read (trusted server)"},
		{"readOnlyHint trusted, destructive name", &mcp.Tool{Name: "delete_user", Annotations: readOnly}, true, "Read/Low", ""},
		{"readOnlyHint trusted keeps secrets", &mcp.Tool{Name: "get-env", Annotations: readOnly}, true, "Read/High", ""},
		{"destructiveHint false untrusted", &mcp.Tool{Name: "delete_tag", Annotations: notDestructive}, false, "Destructive/High", "annotation: destructiveHint false: ignored, server not trusted"},
		{"destructiveHint false trusted", &mcp.Tool{Name: "delete_tag", Annotations: notDestructive}, true, "Write/Low", "annotation: destructiveHint false: Write (trusted server)"},
		{"destructiveHint false on a write", &mcp.Tool{Name: "create_tag", Annotations: notDestructive}, true, "Write/Low", ""},
		{"no annotations, trusted", &mcp.Tool{Name: "delete_user"}, true, "Destructive/Critical", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := catalog.Classify(tt.tool, &catalog.Options{Trusted: tt.trusted})
			name := "<nil>"
			if tt.tool != nil {
				name = tt.tool.Name
			}
			if c.String() != tt.want {
				t.Errorf("Classify(%q, trusted=%v) = %v %v; want %s", name, tt.trusted, c, c.Signals, tt.want)
			}
			if len(c.Signals) == 0 {
				t.Errorf("Classify(%q) has no signals", name)
			}
			if tt.signal != "" && !hasSignal(c, tt.signal) {
				t.Errorf("Classify(%q) signals = %q; want one %q", name, c.Signals, tt.signal)
			}
		})
	}
}

func hasSignal(c catalog.Class, s string) bool {
	for _, sig := range c.Signals {
		if sig.String() == s {
			return true
		}
	}
	return false
}

// TestClassifySignalOrder checks that signals come in the order
// annotation, name, description, input.
func TestClassifySignalOrder(t *testing.T) {
	c := catalog.Classify(&mcp.Tool{
		Name:        "bulk_import_users",
		Description: "Imports multiple users from CSV",
		InputSchema: schema("csv:string"),
		Annotations: &mcp.ToolAnnotations{OpenWorldHint: ptr(true)},
	}, nil)
	order := map[string]int{"annotation": 0, "name": 1, "description": 2, "input": 3}
	for i := 1; i < len(c.Signals); i++ {
		if order[c.Signals[i-1].Kind] > order[c.Signals[i].Kind] {
			t.Fatalf("Classify signals = %q; want them by kind: annotation, name, description, input", c.Signals)
		}
	}
	if len(c.Signals) != 6 {
		t.Fatalf("Classify signals = %q; want 6: openWorldHint; the verb, bulk and users in the name; bulk in the description; bulk in the input", c.Signals)
	}
}

func TestClassNilOptions(t *testing.T) {
	tool := &mcp.Tool{Name: "echo", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}
	if got, want := catalog.Classify(tool, nil), catalog.Classify(tool, &catalog.Options{}); got.String() != want.String() {
		t.Errorf("Classify(nil options) = %v; want %v, as untrusted", got, want)
	}
}

func TestClassJSON(t *testing.T) {
	c := catalog.Classify(&mcp.Tool{Name: "create_user"}, nil)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"category":"Write","severity":"Medium","signals":[{"kind":"name","detail":"verb \"create\": Write"},{"kind":"name","detail":"\"user\" (accounts): Medium"}]}`
	if string(b) != want {
		t.Errorf("json.Marshal(Classify(create_user)) = %s; want %s", b, want)
	}
	var back catalog.Class
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != c.String() || len(back.Signals) != len(c.Signals) {
		t.Errorf("decoded %v; want %v", back, c)
	}
}

func TestCategorySeverityText(t *testing.T) {
	for i, c := range catalog.Categories {
		var back catalog.Category
		if err := back.UnmarshalText([]byte(strings.ToLower(c.String()))); err != nil || back != c {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", strings.ToLower(c.String()), back, err, c)
		}
		if int(c) != i {
			t.Errorf("Categories[%d] = %v; want them in order of risk", i, c)
		}
	}
	for _, s := range []catalog.Severity{catalog.Low, catalog.Medium, catalog.High, catalog.Critical} {
		var back catalog.Severity
		if err := back.UnmarshalText([]byte(s.String())); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", s, back, err, s)
		}
	}
	var c catalog.Category
	if err := c.UnmarshalText([]byte("Dangerous")); err == nil {
		t.Error("UnmarshalText(Dangerous) succeeded; want an error")
	}
	var s catalog.Severity
	if err := s.UnmarshalText([]byte("Extreme")); err == nil {
		t.Error("UnmarshalText(Extreme) succeeded; want an error")
	}
	if _, err := catalog.Category(9).MarshalText(); err == nil {
		t.Error("Category(9).MarshalText succeeded; want an error")
	}
	if _, err := catalog.Severity(9).MarshalText(); err == nil {
		t.Error("Severity(9).MarshalText succeeded; want an error")
	}
	if got := catalog.Category(9).String(); got != "Category(9)" {
		t.Errorf("Category(9).String() = %q", got)
	}
}

// FuzzClassify checks that any tool is classified, with a valid class and
// at least one signal, and the same way twice.
func FuzzClassify(f *testing.F) {
	f.Add("getUserIDs", "Retrieves users.", `{"type":"object","properties":{"userIds":{"type":"array"}}}`, true)
	f.Add("delete_user", "", `{}`, false)
	f.Add("ÄÖÜ.ßtool", "x\x00y. Z", `{"properties":{"a":1}}`, false)
	f.Fuzz(func(t *testing.T, name, desc, schema string, trusted bool) {
		tool := &mcp.Tool{Name: name, Description: desc, InputSchema: json.RawMessage(schema)}
		c := catalog.Classify(tool, &catalog.Options{Trusted: trusted})
		if _, err := c.Category.MarshalText(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Severity.MarshalText(); err != nil {
			t.Fatal(err)
		}
		if len(c.Signals) == 0 {
			t.Fatalf("Classify(%q) has no signals", name)
		}
		if again := catalog.Classify(tool, &catalog.Options{Trusted: trusted}); again.String() != c.String() || len(again.Signals) != len(c.Signals) {
			t.Fatalf("Classify(%q) = %v, then %v", name, c, again)
		}
	})
}
