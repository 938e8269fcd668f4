package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/policy"
)

// With PostgreSQL configured, the policies live there: it is the source of
// truth every replica applies. A server's policy file seeds its row the
// first time; after that, a save through the admin API (on any replica)
// or an edit of the file on any replica replaces the row, and every
// replica applies the new version at its next poll.

const sharedPolicyTable = `CREATE SCHEMA IF NOT EXISTS %[1]s; CREATE TABLE IF NOT EXISTS %[1]s.toolgate_policies (
	server     text PRIMARY KEY,
	text       text NOT NULL,
	version    text NOT NULL,
	updated_at timestamptz NOT NULL,
	updated_by text NOT NULL
)`

func (g *Gateway) ensurePolicyTable(ctx context.Context) error {
	if g.policyTableReady {
		return nil
	}
	// Replicas starting together on a new database must not race to
	// create the table.
	tx, err := g.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("shared policies: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('toolgate_policies'))`); err != nil {
		return fmt.Errorf("shared policies: %w", err)
	}
	for _, stmt := range strings.Split(fmt.Sprintf(sharedPolicyTable, g.schema()), "; ") {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("shared policies: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("shared policies: %w", err)
	}
	g.policyTableReady = true
	return nil
}

// policyText returns a server's policy document and its version. g.mu is
// held (or New is running). fileEdited says the file changed since it was
// last read, which with PostgreSQL makes the file's text the new shared
// version.
func (g *Gateway) policyText(sc *config.Server, fileEdited bool) ([]byte, string, error) {
	file, ferr := os.ReadFile(sc.Policy)
	if g.pool == nil {
		if ferr != nil {
			return nil, "", fmt.Errorf("server %s: %w", sc.Name, ferr)
		}
		return file, versionOf(file), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.ensurePolicyTable(ctx); err != nil {
		return nil, "", err
	}
	var text, version string
	err := g.pool.QueryRow(ctx, `SELECT text, version FROM `+g.schema()+`.toolgate_policies WHERE server = $1`, sc.Name).Scan(&text, &version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if ferr != nil {
			return nil, "", fmt.Errorf("server %s: %w", sc.Name, ferr)
		}
		if _, err := policy.Parse(sc.Policy, file); err != nil {
			return nil, "", err
		}
		if _, err := g.pool.Exec(ctx, `INSERT INTO `+g.schema()+`.toolgate_policies (server, text, version, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server) DO NOTHING`,
			sc.Name, string(file), versionOf(file), g.now(), "file "+sc.Policy); err != nil {
			return nil, "", fmt.Errorf("shared policies: %w", err)
		}
		// Another replica may have seeded it first: theirs stands.
		if err := g.pool.QueryRow(ctx, `SELECT text, version FROM `+g.schema()+`.toolgate_policies WHERE server = $1`, sc.Name).Scan(&text, &version); err != nil {
			return nil, "", fmt.Errorf("shared policies: %w", err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("shared policies: %w", err)
	case fileEdited && ferr == nil && versionOf(file) != version:
		if _, err := policy.Parse(sc.Policy, file); err != nil {
			return nil, "", err
		}
		if _, err := g.pool.Exec(ctx, `UPDATE `+g.schema()+`.toolgate_policies SET text = $2, version = $3, updated_at = $4, updated_by = $5 WHERE server = $1`,
			sc.Name, string(file), versionOf(file), g.now(), "file "+sc.Policy); err != nil {
			return nil, "", fmt.Errorf("shared policies: %w", err)
		}
		g.logger.Info("policy file edited; shared with every replica", "server", sc.Name, "file", sc.Policy)
		return file, versionOf(file), nil
	}
	return []byte(text), version, nil
}

// saveShared replaces a server's shared policy if it is still at version.
func (g *Gateway) saveShared(ctx context.Context, server, version string, text []byte, by string) (string, error) {
	if err := g.ensurePolicyTable(ctx); err != nil {
		return "", err
	}
	tag, err := g.pool.Exec(ctx, `UPDATE `+g.schema()+`.toolgate_policies SET text = $3, version = $4, updated_at = $5, updated_by = $6
		WHERE server = $1 AND version = $2`, server, version, string(text), versionOf(text), g.now(), by)
	if err != nil {
		return "", fmt.Errorf("shared policies: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var cur string
		if err := g.pool.QueryRow(ctx, `SELECT version FROM `+g.schema()+`.toolgate_policies WHERE server = $1`, server).Scan(&cur); err != nil {
			return "", fmt.Errorf("shared policies: %w", err)
		}
		return cur, ErrStaleVersion
	}
	return versionOf(text), nil
}

// syncShared applies the shared policies other replicas saved since the
// last look. g.mu is held.
func (g *Gateway) syncShared(ctx context.Context) {
	if g.pool == nil || !g.policyTableReady {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Each poll reads only the versions; a policy's text is read when its
	// version changed.
	rows, err := g.pool.Query(ctx, `SELECT server, version FROM `+g.schema()+`.toolgate_policies`)
	if err != nil {
		g.logger.Warn("reading shared policies", "error", err)
		return
	}
	type row struct{ server, text, version string }
	var changed []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.server, &r.version); err != nil {
			rows.Close()
			g.logger.Warn("reading shared policies", "error", err)
			return
		}
		if g.policyVersions[r.server] != r.version {
			changed = append(changed, r)
		}
	}
	rows.Close()
	for i := range changed {
		r := &changed[i]
		if err := g.pool.QueryRow(ctx, `SELECT text, version FROM `+g.schema()+`.toolgate_policies WHERE server = $1`, r.server).Scan(&r.text, &r.version); err != nil {
			g.logger.Warn("reading shared policies", "server", r.server, "error", err)
			return
		}
	}
	servers := *g.servers.Load()
	for _, r := range changed {
		s := servers[r.server]
		if s == nil || s.conf.Policy == "" {
			continue
		}
		p, err := policy.Parse(s.conf.Policy, []byte(r.text))
		if err != nil {
			g.logger.Error("shared policy rejected; the previous one stays in force", "server", r.server, "error", err)
			g.policyVersions[r.server] = r.version
			g.metrics.Reload(false)
			continue
		}
		s.enf.policy.Store(p)
		g.policyVersions[r.server] = r.version
		g.metrics.Reload(true)
		g.logger.Info("shared policy applied", "server", r.server, "version", r.version[:12])
	}
}

// sharedPolicy returns the shared text and version of a server's policy.
func (g *Gateway) sharedPolicy(ctx context.Context, server string) (string, string, error) {
	if err := g.ensurePolicyTableLocked(ctx); err != nil {
		return "", "", err
	}
	var text, version string
	err := g.pool.QueryRow(ctx, `SELECT text, version FROM `+g.schema()+`.toolgate_policies WHERE server = $1`, server).Scan(&text, &version)
	return text, version, err
}

func (g *Gateway) ensurePolicyTableLocked(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ensurePolicyTable(ctx)
}

// schema is the PostgreSQL schema of the gateway's tables.
func (g *Gateway) schema() string { return g.cfg.Load().PostgresSchema }
