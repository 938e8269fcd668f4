package gateway

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/proxy"
)

// ListTools connects to a configured server on its own, lists its tools
// and disconnects, for commands that inspect servers.
func ListTools(ctx context.Context, sc *config.Server, logger *slog.Logger) ([]*mcp.Tool, error) {
	tools, _, err := proxy.ListTools(ctx, specOf(sc), logger)
	return tools, err
}

// ToolView is one tool of a server as the console and scans show it.
type ToolView struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description"`
	catalog.Class
	// Policy says what the policy in force does with the tool.
	Policy string    `json:"policy"`
	Pin    *PinView  `json:"pin,omitempty"`
	Tool   *mcp.Tool `json:"definition"`
}

// PinView is a tool's pin status.
type PinView struct {
	Status        string `json:"status"`
	Digest        string `json:"digest"`
	PendingDigest string `json:"pending_digest,omitempty"`
}

// DescribePolicy says what p does with tool; a nil p lets everything pass.
func DescribePolicy(p *policy.Policy, tool string) string {
	if p == nil {
		return "allow (no policy)"
	}
	return p.Describe(tool)
}

// Classify classifies tools as served by sc under policy p.
func Classify(sc *config.Server, p *policy.Policy, tools []*mcp.Tool) []ToolView {
	out := make([]ToolView, 0, len(tools))
	for _, t := range tools {
		out = append(out, ToolView{
			Name: t.Name, Title: t.Title, Description: t.Description,
			Class:  catalog.Classify(t, &catalog.Options{Trusted: sc.Trusted}),
			Policy: DescribePolicy(p, t.Name),
			Tool:   t,
		})
	}
	return out
}

func (g *Gateway) catalogRoutes(api *http.ServeMux) {
	api.HandleFunc("GET /api/v1/servers/{name}/tools", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		s := (*g.servers.Load())[name]
		if s == nil {
			writeError(w, http.StatusNotFound, "no server %q", name)
			return
		}
		tools, err := s.front.Tools(r.Context())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "server %s is not reachable: %v", name, err)
			return
		}
		views := Classify(s.conf, s.enf.policy.Load(), tools)
		if g.pins != nil {
			pins, err := g.pins.List(r.Context(), name)
			if err == nil {
				byTool := make(map[string]catalog.Pin, len(pins))
				for _, p := range pins {
					byTool[p.Tool] = p
				}
				for i := range views {
					if p, ok := byTool[views[i].Name]; ok {
						v := &PinView{Status: p.Status, Digest: p.Digest}
						if p.Pending != nil {
							v.PendingDigest = p.Pending.Digest
						}
						views[i].Pin = v
					}
				}
			}
		}
		writeJSON(w, http.StatusOK, views)
	})
}
