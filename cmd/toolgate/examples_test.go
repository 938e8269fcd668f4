package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/policy"
)

// TestExamples keeps the shipped examples valid: every config loads and
// every policy parses.
func TestExamples(t *testing.T) {
	configs, _ := filepath.Glob("../../examples/*.json")
	policies, _ := filepath.Glob("../../examples/policies/*")
	if len(configs) == 0 || len(policies) == 0 {
		t.Fatal("no examples found")
	}
	noEnv := func(string) (string, bool) { return "", false }
	for _, path := range configs {
		cfg, err := config.Load(path, noEnv)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, s := range cfg.Servers {
			if s.Policy != "" && !fileExists(s.Policy) {
				t.Errorf("%s: server %s: policy %s does not exist", path, s.Name, s.Policy)
			}
		}
	}
	for _, path := range policies {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policy.Parse(path, data); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
