package console

import (
	"net/http"

	"github.com/sluice-cd/sluice/pool/poolspec"
)

// poolsPage shows each pool the user may see: its idle, starting and
// claimed pods, its sizes, its oldest claim and what keeps pods from
// starting.
type poolsPage struct {
	Pools   []poolspec.Status
	Problem string
}

func (c *Console) poolsPage(w http.ResponseWriter, r *request) {
	page := poolsPage{}
	if a := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/pools", nil, &page.Pools); a.code != http.StatusOK {
		page.Problem = a.problem()
	}
	c.render(w, http.StatusOK, "pools", c.view(r, "Pools", "pools", page))
}
