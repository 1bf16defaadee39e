package contract

import (
	"fmt"
	"net/url"
	"strings"
)

// RunLink is a run's page in the Temporal Web UI at uiURL; an empty
// namespace means "default".
func RunLink(uiURL, namespace, workflowID, runID string) string {
	if namespace == "" {
		namespace = "default"
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimRight(uiURL, "/"), namespace, url.PathEscape(workflowID), runID)
}
