package catalog_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/catalog"
)

var tableRows = []catalog.Row{
	{Tool: "get_user", Class: catalog.Class{Category: catalog.Read, Severity: catalog.Low,
		Signals: []catalog.Signal{{Kind: "name", Detail: `verb "get": Read`}}}, Policy: "allow"},
	{Tool: "delete_user", Class: catalog.Class{Category: catalog.Destructive, Severity: catalog.Critical,
		Signals: []catalog.Signal{{Kind: "name", Detail: `verb "delete": Destructive`}, {Kind: "name", Detail: `"user" (accounts): Critical`}}}, Policy: "approve"},
	{Tool: "create_user", Class: catalog.Class{Category: catalog.Write, Severity: catalog.Medium}, Policy: "allow, 30/minute per grant"},
	{Tool: "remove_user", Class: catalog.Class{Category: catalog.Destructive, Severity: catalog.Critical}},
	{Tool: "evil\ttool\n\u202e", Class: catalog.Class{Category: catalog.Write, Severity: catalog.Low}, Policy: "deny"},
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := catalog.WriteTable(&b, tableRows); err != nil {
		t.Fatal(err)
	}
	want := `TOOL                        CATEGORY     SEVERITY  POLICY                      SIGNALS
delete_user                 Destructive  Critical  approve                     name: verb "delete": Destructive; name: "user" (accounts): Critical
remove_user                 Destructive  Critical  -                           -
create_user                 Write        Medium    allow, 30/minute per grant  -
evil\u0009tool\u000a\u202e  Write        Low       deny                        -
get_user                    Read         Low       allow                       name: verb "get": Read
`
	if b.String() != want {
		t.Errorf("WriteTable =\n%s\nwant\n%s", b.String(), want)
	}
	if tableRows[0].Tool != "get_user" {
		t.Error("WriteTable reordered the caller's rows")
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := catalog.WriteJSON(&b, tableRows); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("WriteJSON wrote %s: %v", b.String(), err)
	}
	if len(got) != len(tableRows) {
		t.Fatalf("WriteJSON wrote %d rows; want %d", len(got), len(tableRows))
	}
	first, _ := json.Marshal(got[0])
	if want := `{"category":"Destructive","policy":"approve","severity":"Critical","signals":[{"detail":"verb \"delete\": Destructive","kind":"name"},{"detail":"\"user\" (accounts): Critical","kind":"name"}],"tool":"delete_user"}`; string(first) != want {
		t.Errorf("WriteJSON row 0 = %s; want %s", first, want)
	}
	if sig, ok := got[2]["signals"].([]any); !ok || len(sig) != 0 {
		t.Errorf("WriteJSON row without signals has signals %v; want []", got[2]["signals"])
	}
	if !strings.HasSuffix(b.String(), "]\n") {
		t.Errorf("WriteJSON = %q; want one JSON document and a newline", b.String())
	}
	var rows []catalog.Row
	if err := json.Unmarshal(b.Bytes(), &rows); err != nil || rows[0].Tool != "delete_user" || rows[0].Severity != catalog.Critical {
		t.Errorf("decoding WriteJSON's output into rows = %+v, %v", rows, err)
	}
}

func TestWriteJSONInvalid(t *testing.T) {
	var b bytes.Buffer
	rows := []catalog.Row{{Tool: "x", Class: catalog.Class{Category: catalog.Category(8)}}}
	if err := catalog.WriteJSON(&b, rows); err == nil {
		t.Error("WriteJSON of an invalid category succeeded; want an error")
	}
}
