package node

import (
	"net/http"

	"github.com/ledgerd/ledgerd/node/ui"
)

// uiHandler serves the explorer page (node/ui) at / on the API listener.
func uiHandler() http.Handler { return ui.Handler() }
