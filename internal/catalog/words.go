package catalog

// The words Classify looks for. Names are split into lowercase words (see
// words), so every entry is one lowercase word unless it is a phrase of
// several.

// verbs are the words that say what a tool does, as the verb of its name
// ("delete_user") or the first verb of its description.
var verbs = map[string]Category{
	// Read
	"get": Read, "list": Read, "search": Read, "read": Read, "find": Read,
	"fetch": Read, "lookup": Read, "describe": Read, "show": Read, "view": Read,
	"retrieve": Read, "count": Read, "browse": Read, "download": Read,
	"export": Read, "inspect": Read, "preview": Read, "explain": Read,
	"summarize": Read, "compare": Read,

	// Write
	"create": Write, "update": Write, "add": Write, "set": Write,
	"provision": Write, "assign": Write, "import": Write, "send": Write,
	"write": Write, "edit": Write, "modify": Write, "patch": Write, "put": Write,
	"insert": Write, "upsert": Write, "save": Write, "upload": Write,
	"post": Write, "publish": Write, "activate": Write, "reactivate": Write,
	"unsuspend": Write, "unlock": Write, "enable": Write, "invite": Write,
	"grant": Write, "move": Write, "rename": Write, "copy": Write,
	"append": Write, "toggle": Write, "configure": Write, "register": Write,
	"enroll": Write, "link": Write, "attach": Write, "tag": Write,
	"comment": Write, "reply": Write, "share": Write, "schedule": Write,
	"replace": Write, "approve": Write, "submit": Write, "mark": Write,
	"merge": Write, "restore": Write, "install": Write, "sync": Write,
	"notify": Write, "email": Write,

	// Execute
	"run": Execute, "execute": Execute, "exec": Execute, "invoke": Execute,
	"trigger": Execute, "eval": Execute, "evaluate": Execute, "call": Execute,
	"dispatch": Execute, "start": Execute, "stop": Execute, "restart": Execute,
	"deploy": Execute, "launch": Execute, "spawn": Execute, "apply": Execute,
	"build": Execute,

	// Destructive
	"delete": Destructive, "remove": Destructive, "deactivate": Destructive,
	"suspend": Destructive, "revoke": Destructive, "destroy": Destructive,
	"drop": Destructive, "purge": Destructive, "wipe": Destructive,
	"reset": Destructive, "erase": Destructive, "truncate": Destructive,
	"terminate": Destructive, "kill": Destructive, "disable": Destructive,
	"unassign": Destructive, "deprovision": Destructive, "unlink": Destructive,
	"detach": Destructive, "uninstall": Destructive, "clear": Destructive,
	"cancel": Destructive, "ban": Destructive, "block": Destructive,
	"lock": Destructive, "expire": Destructive, "overwrite": Destructive,
	"unshare": Destructive, "unpublish": Destructive, "unregister": Destructive,
	"unenroll": Destructive, "rm": Destructive, "del": Destructive,

	// Financial
	"pay": Financial, "charge": Financial, "refund": Financial,
	"transfer": Financial, "invoice": Financial, "purchase": Financial,
	"payout": Financial, "withdraw": Financial, "buy": Financial,
	"bill": Financial, "wire": Financial, "checkout": Financial,
	"deposit": Financial,
}

// nouns name an activity without being a verb: they set the category of a
// name that has no verb ("onboarding_workflow", "sql"), and nothing when a
// verb leads ("get_workflow" only reads). Financial nouns are an exception,
// in financialWords.
var nouns = map[string]Category{
	"workflow": Execute, "job": Execute, "shell": Execute, "bash": Execute,
	"sql": Execute, "script": Execute, "command": Execute,
	"payment": Financial, "payments": Financial, "withdrawal": Financial,
}

// financialWords raise a tool whose verb writes to Financial wherever they
// are in its name: "create_payment", "send_invoice", "issue_refund".
var financialWords = set("pay", "payment", "payments", "charge", "charges",
	"refund", "refunds", "transfer", "transfers", "invoice", "invoices",
	"purchase", "payout", "payouts", "withdraw", "withdrawal", "wire",
	"deposit", "checkout", "bill")

// conjunctions join two verbs in a name: "get_or_create", "search_and_replace".
var conjunctions = set("and", "or", "then")

// Severity cues. Each sets a floor on the severity of the categories it
// applies to (see floors).

// principals are accounts: creating or changing one is access management,
// deleting or disabling one locks a person out.
var principals = set("user", "users", "account", "accounts", "member",
	"members", "identity", "identities", "principal", "principals",
	"employee", "employees", "person", "people")

// collections hold many accounts or records: destroying one takes them all.
var collections = set("group", "groups", "team", "teams", "org", "orgs",
	"organization", "organizations", "organisation", "organisations",
	"tenant", "tenants", "database", "databases", "db", "table", "tables",
	"schema", "schemas", "repository", "repositories", "repo", "repos",
	"project", "projects", "bucket", "buckets", "cluster", "clusters",
	"namespace", "namespaces", "workspace", "workspaces", "collection",
	"collections", "directory", "directories", "folder", "folders",
	"channel", "channels")

// accessVerbs give someone access: to log in, to an application, to a
// group's rights.
var accessVerbs = set("assign", "provision", "grant", "activate",
	"reactivate", "unsuspend", "unlock", "enable", "invite", "enroll", "share")

// externalVerbs reach people or systems outside the server.
var externalVerbs = set("send", "publish", "post", "email", "notify", "invite", "share")

// secretWords name secrets: a tool that reads them leaks them, one that
// writes them hands out access.
var secretWords = set("password", "passwords", "passwd", "passphrase",
	"credential", "credentials", "secret", "secrets", "token", "tokens",
	"apikey", "apikeys", "env", "otp", "totp", "privatekey")

// secretPhrases are secretWords of several words.
var secretPhrases = [][]string{
	{"api", "key"}, {"api", "keys"}, {"private", "key"}, {"access", "key"},
	{"ssh", "key"}, {"environment", "variables"}, {"env", "vars"},
}

// notSecret are the words before "token" that make it a cursor or a unit
// of text, not a secret: "pageToken", "next page token", "maxTokens".
var notSecret = set("page", "next", "continuation", "cursor", "sync",
	"pagination", "max", "num", "prompt", "completion", "input", "output", "total")

// privilegeWords name administrative rights and the controls that guard
// them.
var privilegeWords = set("admin", "admins", "administrator",
	"administrators", "administrative", "role", "roles", "privilege",
	"privileges", "permission", "permissions", "superuser", "sudo", "mfa",
	"factor", "factors", "policy", "policies")

// personalWords name personal data whose disclosure harms a person.
var personalWords = set("location", "locations", "geolocation", "gps",
	"whereabouts", "ssn", "salary", "salaries", "medical", "biometric",
	"biometrics", "passport", "passports", "dob", "birthdate")

// codeWords are code or commands a tool runs as given.
var codeWords = set("shell", "bash", "cmd", "command", "commands",
	"script", "scripts", "code", "sql", "eval", "exec", "python",
	"javascript", "js", "powershell", "terminal", "subprocess")

// moneyOutWords move money out of the organization.
var moneyOutWords = set("pay", "payment", "payments", "transfer",
	"transfers", "payout", "payouts", "withdraw", "withdrawal", "wire",
	"purchase", "buy")

// bulkWords in a name or description say one call acts on many items.
var (
	bulkWords     = set("bulk", "batch", "mass", "csv")
	nameBulkWords = set("bulk", "batch", "mass", "csv", "multiple")
)

// bulkQuantifiers and bulkTargets make a bulk phrase of a description:
// "multiple users", "all accounts".
var (
	bulkQuantifiers = set("multiple", "many", "all")
	bulkTargets     = set("users", "accounts", "members", "employees",
		"people", "groups", "customers", "recipients", "records")
)

// bulkInputs are the names of array inputs that list accounts.
var bulkInputs = set("users", "emails", "recipients", "members", "accounts")

// destructivePhrases in a description say that the tool destroys what
// exists.
var destructivePhrases = [][]string{
	{"overwrite"}, {"overwrites"}, {"overwriting"}, {"permanently"},
	{"irreversible"}, {"irreversibly"}, {"cannot", "be", "undone"},
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}
